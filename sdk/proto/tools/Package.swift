// swift-tools-version:6.0
// Builds protoc-gen-swift for sdk/proto/generate.sh. Not part of the main
// package: CI never builds it; the generated code is committed.
import PackageDescription

let package = Package(
    name: "orchion-proto-tools",
    dependencies: [.package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0")],
    targets: []
)
