import Glibc
import OrchionCore
import OrchionProto
import SwiftProtobuf

/// The wall clock as a protobuf timestamp.
func wallClock() -> Google_Protobuf_Timestamp {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    var stamp = Google_Protobuf_Timestamp()
    stamp.seconds = Int64(time.tv_sec)
    stamp.nanos = Int32(time.tv_nsec)
    return stamp
}

/// Milliseconds of a monotonic clock.
func monotonicMillis() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1000 &+ UInt64(time.tv_nsec / 1_000_000)
}
