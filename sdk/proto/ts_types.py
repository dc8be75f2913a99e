"""Writes sdk/ts/orchion.ts: TypeScript types for every message and enum of
sdk/proto/orchion.protoset, as they look in protobuf's canonical JSON mapping
(what the REST API sends and accepts):

- field names are the descriptor's json_name (lowerCamelCase);
- every field is optional (proto3 JSON leaves out default values);
- 64-bit integers are strings, `bytes` are base64 strings;
- enums are their value names (a string union, plus a `...Values` array);
- google.protobuf.Timestamp is an RFC 3339 string, Duration a "1.5s" string;
- maps are records keyed by string.

Run by sdk/proto/generate.sh with the project's .venv (which has protobuf).
Deterministic: the same descriptor set always gives the same bytes.
"""
import sys

from google.protobuf import descriptor_pb2

FieldDescriptorProto = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    FieldDescriptorProto.TYPE_DOUBLE: "number",
    FieldDescriptorProto.TYPE_FLOAT: "number",
    FieldDescriptorProto.TYPE_INT32: "number",
    FieldDescriptorProto.TYPE_UINT32: "number",
    FieldDescriptorProto.TYPE_SINT32: "number",
    FieldDescriptorProto.TYPE_FIXED32: "number",
    FieldDescriptorProto.TYPE_SFIXED32: "number",
    FieldDescriptorProto.TYPE_INT64: "string",
    FieldDescriptorProto.TYPE_UINT64: "string",
    FieldDescriptorProto.TYPE_SINT64: "string",
    FieldDescriptorProto.TYPE_FIXED64: "string",
    FieldDescriptorProto.TYPE_SFIXED64: "string",
    FieldDescriptorProto.TYPE_BOOL: "boolean",
    FieldDescriptorProto.TYPE_STRING: "string",
    FieldDescriptorProto.TYPE_BYTES: "string",
}
WELL_KNOWN = {
    ".google.protobuf.Timestamp": "string",
    ".google.protobuf.Duration": "string",
}


class GeneratorError(Exception):
    pass


def leading_comments(file):
    """Maps a source path (tuple) to its comment lines."""
    found = {}
    for location in file.source_code_info.location:
        text = (location.leading_comments or location.trailing_comments).strip()
        if text:
            found[tuple(location.path)] = [line.strip() for line in text.splitlines()]
    return found


def doc(lines, indent=""):
    if not lines:
        return []
    if len(lines) == 1:
        return [f"{indent}/** {escape_comment(lines[0])} */"]
    return [f"{indent}/**"] + [f"{indent} * {escape_comment(line)}".rstrip() for line in lines] + [f"{indent} */"]


def escape_comment(text):
    return text.replace("*/", "* /")


class Generator:
    def __init__(self, files):
        self.files = [file for file in files.file if file.package.startswith("orchion.")]
        # Fully qualified proto name -> TypeScript name, and map entries.
        self.names = {}
        self.maps = {}
        for file in self.files:
            prefix = "." + file.package
            for enum in file.enum_type:
                self.names[f"{prefix}.{enum.name}"] = enum.name
            for message in file.message_type:
                self.collect(message, prefix, "")

    def collect(self, message, prefix, outer):
        full = f"{prefix}.{message.name}"
        name = f"{outer}{message.name}"
        if message.options.map_entry:
            self.maps[full] = message
            return
        self.names[full] = name
        for enum in message.enum_type:
            self.names[f"{full}.{enum.name}"] = f"{name}_{enum.name}"
        for nested in message.nested_type:
            self.collect(nested, full, f"{name}_")

    def type_of(self, field):
        if field.type in (FieldDescriptorProto.TYPE_MESSAGE, FieldDescriptorProto.TYPE_ENUM):
            if field.type_name in WELL_KNOWN:
                return WELL_KNOWN[field.type_name]
            if field.type_name in self.maps:
                entry = self.maps[field.type_name]
                return f"Record<string, {self.type_of(entry.field[1])}>"
            if field.type_name not in self.names:
                raise GeneratorError(f"field {field.name}: expected a known type, found {field.type_name}")
            return self.names[field.type_name]
        if field.type not in SCALARS:
            raise GeneratorError(f"field {field.name}: expected a scalar type, found type number {field.type}")
        return SCALARS[field.type]

    def enum(self, enum, name, notes, path):
        values = [value.name for value in enum.value]
        out = doc(notes.get(path, []))
        out.append(f"export type {name} =")
        for index, value in enumerate(values):
            comment = notes.get(path + (2, index))
            suffix = f" // {escape_comment(' '.join(comment))}" if comment else ""
            out.append(f"  | \"{value}\"{suffix}")
        out[-1] = out[-1].replace(f"\"{values[-1]}\"", f"\"{values[-1]}\";", 1)
        out.append(f"/** Every {name} value, in declaration order. */")
        listed = ", ".join(f"\"{value}\"" for value in values)
        out.append(f"export const {name}Values: readonly {name}[] = [{listed}];")
        out.append("")
        return out

    def message(self, message, name, notes, path):
        out = []
        for index, enum in enumerate(message.enum_type):
            out += self.enum(enum, f"{name}_{enum.name}", notes, path + (4, index))
        for index, nested in enumerate(message.nested_type):
            if not nested.options.map_entry:
                out += self.message(nested, f"{name}_{nested.name}", notes, path + (3, index))
        out += doc(notes.get(path, []))
        if not message.field:
            out += [f"export type {name} = Record<string, never>;", ""]
            return out
        out.append(f"export interface {name} {{")
        for index, field in enumerate(message.field):
            kind = self.type_of(field)
            repeated = field.label == FieldDescriptorProto.LABEL_REPEATED
            if repeated and not (field.type_name in self.maps):
                kind = f"{kind}[]"
            out += doc(notes.get(path + (2, index), []), "  ")
            out.append(f"  {field.json_name}?: {kind};")
        out += ["}", ""]
        return out

    def render(self):
        out = [
            "// Generated from sdk/proto/orchion/v1/*.proto by sdk/proto/generate.sh",
            "// (sdk/proto/ts_types.py); do not edit.",
            "//",
            "// The messages as protobuf's canonical JSON mapping writes them (the REST",
            "// API): lowerCamelCase names, every field optional (defaults are left",
            "// out), 64-bit integers and bytes (base64) as strings, enums by name,",
            "// Timestamp and Duration as strings.",
            "",
        ]
        for file in self.files:
            notes = leading_comments(file)
            out += [f"// {file.name}", ""]
            for index, enum in enumerate(file.enum_type):
                out += self.enum(enum, enum.name, notes, (5, index))
            for index, message in enumerate(file.message_type):
                out += self.message(message, message.name, notes, (4, index))
        return "\n".join(out).rstrip() + "\n"


def main(protoset, out):
    files = descriptor_pb2.FileDescriptorSet()
    with open(protoset, "rb") as handle:
        files.ParseFromString(handle.read())
    try:
        text = Generator(files).render()
    except GeneratorError as error:
        sys.exit(f"ts_types: {error}")
    with open(out, "w") as handle:
        handle.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ts_types.py ORCHION.PROTOSET OUT.ts")
    main(sys.argv[1], sys.argv[2])
