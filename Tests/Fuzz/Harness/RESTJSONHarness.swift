import OrchionProto
import SwiftProtobuf

/// Protobuf JSON decoding of every request type the REST gateway decodes,
/// the way it decodes them (`init(jsonUTF8Bytes:)`), and what must hold of
/// a request it accepts: it encodes and decodes back to itself, as JSON and
/// in the binary form gRPC carries.
///
/// Layout: byte 0 picks the request type, the rest is the JSON body.
enum RESTJSONHarness {
    /// Every request message of ControlService, in a fixed order (byte 0 indexes it).
    static let decoders: [@Sendable ([UInt8]) -> Void] = [
        check(Orchion_V1_ListNodesRequest.self), check(Orchion_V1_GetNodeRequest.self),
        check(Orchion_V1_DrainNodeRequest.self), check(Orchion_V1_SubmitJobRequest.self),
        check(Orchion_V1_ListJobsRequest.self), check(Orchion_V1_GetJobRequest.self),
        check(Orchion_V1_CancelJobRequest.self), check(Orchion_V1_FollowLogsRequest.self),
        check(Orchion_V1_WatchEventsRequest.self), check(Orchion_V1_ListPluginsRequest.self),
    ]

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        decoders[Int(selector) % decoders.count](Array(input.dropFirst()))
    }

    static func check<M: SwiftProtobuf.Message>(_ type: M.Type) -> @Sendable ([UInt8]) -> Void {
        { body in
            guard let message = try? M(jsonUTF8Bytes: body) else { return }
            let name = M.protoMessageName
            do {
                let json: [UInt8] = try message.jsonUTF8Bytes()
                let again = try M(jsonUTF8Bytes: json)
                precondition(again.isEqualTo(message: message), "\(name) changed in a JSON round trip")
                let binary: [UInt8] = try message.serializedBytes()
                let decoded = try M(serializedBytes: binary)
                precondition(decoded.isEqualTo(message: message), "\(name) changed in a binary round trip")
            } catch {
                preconditionFailure("\(name) decoded from JSON but does not encode and decode back: \(error)")
            }
        }
    }
}
