/// Decides about a request from its head alone, before any body byte is
/// read: `method`, raw `target` (path and query as sent) and headers.
///
/// Threading: called on the loop thread, from the parser, once per request.
public typealias HTTPHeadCheck = (
    _ method: String, _ target: String, _ headers: [(name: String, value: String)]
) -> HTTPHeadVerdict

/// What an `HTTPHeadCheck` decided.
public enum HTTPHeadVerdict: Sendable {
    /// Read the body and hand the request to the handler (which
    /// authenticates it again when it runs: it may wait behind others).
    case proceed
    /// Answer this now, in turn, with `Connection: close`; the body is read
    /// and discarded, never buffered, and the connection closes after it.
    case answer(HTTPResponse)
    /// A presented token was refused: answered as `.answer`, but after the
    /// slow-down that repeated failures from the same peer earn (see
    /// `AuthFailureThrottle`; at once when the connection has none).
    case refuse(HTTPResponse)
}
