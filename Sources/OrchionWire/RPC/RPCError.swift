import OrchionCore

/// A gRPC status code with its message: the one error type of both API faces.
/// REST answers it as `{"code": "NOT_FOUND", "message": "..."}` with the
/// matching HTTP status; gRPC as `grpc-status` and `grpc-message` trailers.
public struct RPCError: Error, Hashable, CustomStringConvertible {
    /// gRPC status codes.
    public enum Code: Int, Sendable, CaseIterable {
        case cancelled = 1
        case unknown, invalidArgument, deadlineExceeded, notFound, alreadyExists
        case permissionDenied, resourceExhausted, failedPrecondition, aborted, outOfRange
        case unimplemented, `internal`, unavailable, dataLoss, unauthenticated

        /// "NOT_FOUND", as gRPC names it.
        public var name: String {
            switch self {
            case .cancelled: "CANCELLED"
            case .unknown: "UNKNOWN"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .deadlineExceeded: "DEADLINE_EXCEEDED"
            case .notFound: "NOT_FOUND"
            case .alreadyExists: "ALREADY_EXISTS"
            case .permissionDenied: "PERMISSION_DENIED"
            case .resourceExhausted: "RESOURCE_EXHAUSTED"
            case .failedPrecondition: "FAILED_PRECONDITION"
            case .aborted: "ABORTED"
            case .outOfRange: "OUT_OF_RANGE"
            case .unimplemented: "UNIMPLEMENTED"
            case .internal: "INTERNAL"
            case .unavailable: "UNAVAILABLE"
            case .dataLoss: "DATA_LOSS"
            case .unauthenticated: "UNAUTHENTICATED"
            }
        }

        /// The HTTP status REST answers with.
        public var httpStatus: Int {
            switch self {
            case .invalidArgument, .failedPrecondition, .outOfRange: 400
            case .unauthenticated: 401
            case .permissionDenied: 403
            case .notFound: 404
            case .alreadyExists, .aborted: 409
            case .resourceExhausted: 429
            case .cancelled: 499
            case .unimplemented: 501
            case .unavailable: 503
            case .deadlineExceeded: 504
            case .unknown, .internal, .dataLoss: 500
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name): \(message)" }

    /// The REST form of this error.
    public var httpResponse: HTTPResponse { Self.json(code: code.name, message: message, status: code.httpStatus) }

    /// A JSON error body `{"code":…,"message":…}` with `status`.
    static func json(code: String, message: String, status: Int) -> HTTPResponse {
        .json(status, Array("{\"code\":\(jsonQuoted(code)),\"message\":\(jsonQuoted(message))}".utf8))
    }
}
