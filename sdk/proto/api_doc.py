"""Writes docs/api.md from sdk/proto/orchion.protoset (with source comments).

Run by sdk/proto/generate.sh with the project's .venv (which has protobuf).
"""
import sys

from google.protobuf import descriptor_pb2

TYPES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool", 9: "string",
    12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}


def comments(file):
    """Maps a source path (tuple) to its leading comment."""
    found = {}
    for location in file.source_code_info.location:
        text = (location.leading_comments or location.trailing_comments).strip()
        if text:
            found[tuple(location.path)] = " ".join(line.strip() for line in text.splitlines())
    return found


def type_name(field, maps):
    if field.type_name:
        name = field.type_name.lstrip(".")
        if name in maps:
            key, value = maps[name]
            return f"map<{key}, {value}>"
        return name.replace("orchion.v1.", "")
    return TYPES.get(field.type, str(field.type))


def main(protoset, out):
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(open(protoset, "rb").read())
    lines = [
        "# API reference",
        "",
        "Generated from `sdk/proto/orchion/v1/*.proto` by `sdk/proto/generate.sh`; do not edit.",
        "The `.proto` files are the source of truth. REST/JSON uses protobuf's canonical JSON",
        "mapping of these messages (lowerCamelCase names, enums by name, 64-bit integers as",
        "strings); the routes are listed on `ControlService` in control.proto and in the README.",
        "Errors are `{\"code\": \"NOT_FOUND\", \"message\": \"...\"}` on REST and `grpc-status` /",
        "`grpc-message` on gRPC, with the same codes. Every call but `GET /healthz` needs",
        "`Authorization: Bearer <token>`: a client API token for ControlService, the agent join",
        "token for AgentService. A client token has a scope: `read` (ListNodes, GetNode,",
        "ListJobs, GetJob, FollowLogs, WatchEvents, ListPlugins, GetScheduler), `submit` (also",
        "SubmitJob, SubmitJobs, and CancelJob of the jobs it submitted) or `admin` (everything);",
        "a call above it is PERMISSION_DENIED (HTTP 403), an expired token UNAUTHENTICATED",
        "(HTTP 401, \"token expired\"). See docs/security.md.",
        "",
    ]
    for file in files.file:
        if not file.package.startswith("orchion."):
            continue
        notes = comments(file)
        lines += [f"## {file.name}", ""]
        for index, service in enumerate(file.service):
            lines += [f"### service {service.name}", "", "| method | request | response |", "|---|---|---|"]
            for method in service.method:
                request = ("stream " if method.client_streaming else "") + method.input_type.replace(".orchion.v1.", "")
                response = ("stream " if method.server_streaming else "") + method.output_type.replace(".orchion.v1.", "")
                lines.append(f"| {method.name} | {request} | {response} |")
            lines.append("")
        for index, enum in enumerate(file.enum_type):
            lines += [f"### enum {enum.name}", "", notes.get((5, index), ""), "", "| value | number | meaning |", "|---|---:|---|"]
            for number, value in enumerate(enum.value):
                lines.append(f"| {value.name} | {value.number} | {notes.get((5, index, 2, number), '')} |")
            lines.append("")
        for index, message in enumerate(file.message_type):
            maps = {
                f"{file.package}.{message.name}.{nested.name}": (
                    type_name(nested.field[0], {}), type_name(nested.field[1], {}))
                for nested in message.nested_type if nested.options.map_entry
            }
            lines += [f"### {message.name}", "", notes.get((4, index), ""), ""]
            if not message.field:
                lines += ["(no fields)", ""]
                continue
            lines += ["| field | number | type | meaning |", "|---|---:|---|---|"]
            for number, field in enumerate(message.field):
                kind = type_name(field, maps)
                if field.label == 3 and not kind.startswith("map<"):
                    kind = "repeated " + kind
                oneof = f" (oneof {message.oneof_decl[field.oneof_index].name})" if field.HasField("oneof_index") else ""
                lines.append(f"| {field.name} | {field.number} | {kind}{oneof} | {notes.get((4, index, 2, number), '')} |")
            if message.reserved_range or message.reserved_name:
                lines.append(f"\nReserved: {', '.join(message.reserved_name)}")
            lines.append("")
    open(out, "w").write("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
