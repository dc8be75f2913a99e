// Reads the server's `GET /metrics` (Prometheus text) for the heartbeat
// lag histogram `orchion_heartbeat_lag_seconds`.
import Glibc

/// One scrape of /metrics: the cumulative buckets of the heartbeat lag
/// histogram (upper bound → count), empty when the server has none.
struct MetricsScrape: Sendable {
    var lagBuckets: [(bound: Double, count: Double)] = []
    /// Every sample without labels (counters, gauges, histograms' `_sum`
    /// and `_count`), by name.
    var values: [String: Double] = [:]
    /// Whether /metrics answered at all (200).
    var served = false

    /// Scrapes 127.0.0.1:`port` (plain HTTP/1.1, off the event loops: a
    /// blocking socket on a pool thread for the few milliseconds it takes).
    static func fetch(port: UInt16) async throws -> MetricsScrape {
        guard let body = httpGet(port: port, path: "/metrics") else { return MetricsScrape() }
        var scrape = MetricsScrape()
        scrape.served = true
        let prefix = "orchion_heartbeat_lag_seconds_bucket{le=\""
        for line in body.split(separator: "\n") where !line.hasPrefix("#") && !line.contains("{") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Double(fields[1]) { scrape.values[String(fields[0])] = value }
        }
        for line in body.split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let quote = rest.firstIndex(of: "\"") else { continue }
            let boundText = rest[..<quote]
            let bound = boundText == "+Inf" ? Double.infinity : Double(boundText)
            guard let bound, let count = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            scrape.lagBuckets.append((bound, count))
        }
        return scrape
    }

    /// How much `name` grew between two scrapes (nil when either lacks it).
    static func delta(_ name: String, before: MetricsScrape, after: MetricsScrape) -> Double? {
        guard let old = before.values[name], let new = after.values[name] else { return nil }
        return new - old
    }

    /// "p50 / p99" in ms of the observations between two scrapes, each
    /// interpolated inside its bucket as Prometheus' histogram_quantile does,
    /// or a note saying why there is none.
    static func lag(before: MetricsScrape, after: MetricsScrape) -> String {
        guard after.served else { return "n/a (no /metrics)" }
        guard !after.lagBuckets.isEmpty, after.lagBuckets.count == before.lagBuckets.count else {
            return "n/a (no histogram)"
        }
        let buckets = zip(before.lagBuckets, after.lagBuckets).map { ($1.bound, $1.count - $0.count) }
        guard let total = buckets.last?.1, total > 0 else { return "n/a (no heartbeats)" }
        func quantile(_ q: Double) -> String {
            let rank = q * total
            var lower = 0.0
            var below = 0.0
            for (bound, count) in buckets {
                if count >= rank {
                    guard bound.isFinite else { return "> \(String(format3: lower * 1000))" }
                    let inside = count - below
                    let fraction = inside > 0 ? (rank - below) / inside : 1
                    return String(format3: (lower + (bound - lower) * fraction) * 1000)
                }
                lower = bound
                below = count
            }
            return "n/a"
        }
        return "\(quantile(0.5)) / \(quantile(0.99))"
    }
}

/// The body of a GET of `path` on 127.0.0.1:`port` when it answers 200, else nil.
func httpGet(port: UInt16, path: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return nil }
    writeLine(fd, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[0..<count]
    }
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.1 200"), let split = text.range(of: "\r\n\r\n") else { return nil }
    let head = text[..<split.lowerBound].lowercased()
    let body = String(text[split.upperBound...])
    guard head.contains("transfer-encoding: chunked") else { return body }
    return dechunk(body)
}

/// The payload of a chunked HTTP/1.1 body.
private func dechunk(_ body: String) -> String {
    var bytes = Array(body.utf8)[...]
    var result: [UInt8] = []
    while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")) {
        let sizeText = String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self)
        guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
        let start = lineEnd + 2
        guard start + size <= bytes.endIndex else { break }
        result += bytes[start..<(start + size)]
        bytes = bytes[min(bytes.endIndex, start + size + 2)...]
    }
    return String(decoding: result, as: UTF8.self)
}
