/// Files served on the API's port without a token, at paths outside the
/// API (the dashboard: `/`, `/index.html`, `/assets/...`). The gateway asks
/// `serves` before it authenticates, and hands the request to `answer`.
///
/// Threading: both are called on the loop thread and must not block.
public protocol PublicSite: Sendable {
    /// Whether the path part of `target` (as sent, no escapes decoded) is the site's.
    func serves(_ target: String) -> Bool
    /// The answer to a GET or HEAD of one of the site's targets (an unknown
    /// file under the site's paths is the site's 404).
    func answer(_ request: HTTPRequest) -> HTTPResponse
}
