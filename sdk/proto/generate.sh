#!/usr/bin/env bash
# Regenerates what is generated from sdk/proto/orchion/v1/*.proto, all of it
# committed so builds and CI never run protoc:
#   Sources/OrchionProto/*.pb.swift     Swift messages (swift-protobuf)
#   sdk/proto/orchion.protoset          descriptor set (grpcurl -protoset, other generators)
#   docs/api.md                         API reference
#   sdk/schema/job.schema.json          JSON Schema of YAML job specs (deterministic: same
#   Sources/OrchionJobSpec/JobSchema+Generated.swift   protoset, same bytes), and as a Swift literal
# Builds protoc-gen-swift once into .build-protoc (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v protoc >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq protobuf-compiler
fi
swift build --package-path sdk/proto/tools --scratch-path .build-protoc -c release --product protoc-gen-swift
plugin=.build-protoc/release/protoc-gen-swift
protos=(sdk/proto/orchion/v1/*.proto)
rm -f Sources/OrchionProto/*.pb.swift
protoc -I sdk/proto --plugin=protoc-gen-swift="$plugin" \
  --swift_out=Sources/OrchionProto --swift_opt=Visibility=Public,FileNaming=DropPath "${protos[@]}"
protoc -I sdk/proto --descriptor_set_out=sdk/proto/orchion.protoset --include_imports --include_source_info "${protos[@]}"
echo "generated $(ls Sources/OrchionProto/*.pb.swift | wc -l) Swift files and sdk/proto/orchion.protoset"
bash .ci/setup >/dev/null  # the .venv with protobuf for the API reference
.venv/bin/python sdk/proto/api_doc.py sdk/proto/orchion.protoset docs/api.md
echo "wrote docs/api.md"
.venv/bin/python sdk/proto/job_schema.py sdk/proto/orchion.protoset sdk/schema/job.schema.json \
  Sources/OrchionJobSpec/JobSchema+Generated.swift
echo "wrote sdk/schema/job.schema.json and Sources/OrchionJobSpec/JobSchema+Generated.swift"
