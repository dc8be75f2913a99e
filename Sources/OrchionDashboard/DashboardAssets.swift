import COrchionDashboard

/// One built file of the dashboard, as embedded in the binary.
public struct DashboardAsset: Sendable {
    /// The URL path: "/index.html", "/assets/main-ZS64QXLK.js".
    public let path: String
    public let contentType: String
    /// A strong ETag (quoted) of `bytes`.
    public let etag: String
    public let bytes: [UInt8]
    /// `bytes` gzipped at build time.
    public let gzip: [UInt8]
}

/// The dashboard's files, read once from the generated C table
/// (Sources/COrchionDashboard/assets.c, written by sdk/dashboard/build.sh).
public enum DashboardAssets {
    /// Every embedded file by URL path.
    public static let all: [String: DashboardAsset] = {
        var files: [String: DashboardAsset] = [:]
        for index in 0..<orchion_dashboard_asset_count() {
            guard let asset = orchion_dashboard_asset_at(index)?.pointee else { continue }
            let path = String(cString: asset.path)
            files[path] = DashboardAsset(
                path: path, contentType: String(cString: asset.content_type), etag: String(cString: asset.etag),
                bytes: Array(UnsafeBufferPointer(start: asset.bytes, count: asset.length)),
                gzip: Array(UnsafeBufferPointer(start: asset.gzip, count: asset.gzip_length)))
        }
        return files
    }()
}
