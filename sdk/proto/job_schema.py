"""Writes the JSON Schema of YAML job specs from sdk/proto/orchion.protoset.

Run by sdk/proto/generate.sh with the project's .venv (which has protobuf):

    job_schema.py PROTOSET SCHEMA_JSON SWIFT_SOURCE

writes SCHEMA_JSON (JSON Schema, draft 2020-12) and SWIFT_SOURCE (the same
text as a Swift string literal, which `orchion` validates against at run
time). The output depends only on the protoset and this script: keys keep
the proto's field order and the JSON is written with a fixed layout, so a
second run writes the same bytes (Tests/OrchionJobSpecTests regenerates it
into a temporary directory and compares).

A job spec document is an `orchion.v1.SubmitJobRequest` written as YAML. The
schema is derived from the descriptors by these rules, applied in order:

1. Envelope. Every document has `apiVersion: orchion/v1` and `kind: Job`
   (required), and may have `count` (an array job: that many copies, each
   with ORCHION_ARRAY_INDEX and ORCHION_ARRAY_COUNT in its environment).
   These three are not proto fields; they are listed in ENVELOPE.
2. Inlining. A message field named in INLINE is not a property: its
   message's fields are properties of the parent (`spec`'s fields are at the
   top of the document, beside `requestId`).
3. Names. A property is named by the field's JSON name (lowerCamelCase),
   less a unit suffix of rule 4 (`memory_bytes` -> `memory`).
4. Units. A 64-bit unsigned field named `*_bytes` is a size: a whole number
   of bytes or a string such as `512Mi`, `4Gi`, `1.5G` (k/M/G/T/P/E are
   powers of 1000, Ki/Mi/Gi/Ti/Pi/Ei of 1024, an optional trailing B). One
   named `*_millis` is a quantity in whole units: a number such as `2` or
   `0.5`, or a string such as `500m` (thousandths). A
   `google.protobuf.Duration` is a number of seconds or a string of
   number-unit terms such as `90s`, `10m`, `1h30m`, `1.5h` (units ns, us, ms,
   s, m, h, d). The converted value is what the proto field gets; the
   schema marks such properties with `x-orchion-unit`.
5. Scalars. string -> string; bool -> boolean; int32/uint32/int64 ->
   integer within the type's range (uint64 -> integer >= 0); enum -> one of
   its value names.
6. Repeated and maps. A repeated field is an array of its element; a
   map<string, string> is an object whose values are scalars taken as written
   (`EPOCHS: 10` is the string "10").
7. Messages. A message field is an object of its fields' properties, with
   additionalProperties false (so a typo is an error, not ignored).
8. Moves. A field in MOVED is written where the table says: the proto's
   `JobSpec.resources` comment says `gpus` is taken from `gpu.count`, so the
   GPU count is written `resources.gpus` and `gpu` has no `count`.
9. Exclusive fields. Each pair in EXCLUSIVE must have exactly one present
   (a oneOf of the two `required`): "Exactly one of `command` and `argv`".
10. Bounds. BOUNDS adds the limits the server enforces on submit that the
   proto cannot say (lengths, the attempt limit, patterns), each citing the
   Swift code that enforces it; Tests/OrchionJobSpecTests checks the numbers
   against those constants.

Every property says where its value goes in the request's proto JSON form
(`x-orchion-proto`, a dotted path of JSON names); the Swift mapper writes
that JSON and lets SwiftProtobuf decode it, so a new proto field of a kind
these rules cover needs no hand-written mapping. A field of a kind they do
not cover stops the generator with an error.
"""
import json
import sys

from google.protobuf import descriptor_pb2

DOCUMENT = "orchion.v1.SubmitJobRequest"
INLINE = {"orchion.v1.SubmitJobRequest.spec"}
MOVED = {"orchion.v1.Resources.gpus": "orchion.v1.GPURequest.count"}
OMITTED = set(MOVED.values())
EXCLUSIVE = [("orchion.v1.JobSpec.command", "orchion.v1.JobSpec.argv")]
DURATION = ".google.protobuf.Duration"
# The longest duration a job may ask for (OrchionMapping: Google_Protobuf_Duration.jobRangeSeconds).
JOB_RANGE_SECONDS = 315_576_000_000
ARRAY_LIMIT = 100_000

BOUNDS = {
    # OrchionCore JobSpec.nameLimit and JobSpec.validate (one line).
    "orchion.v1.JobSpec.name": {"maxLength": 253, "pattern": "^[^\\n]*$", "x-orchion-expected": "one line"},
    # JobSpec.validate: "a command or an argv".
    "orchion.v1.JobSpec.command": {"minLength": 1},
    # JobSpec.validate: "a program name in argv[0]".
    "orchion.v1.JobSpec.argv": {"minItems": 1, "prefixItems": [{"type": "string", "minLength": 1}]},
    # JobSpec.validate: "variable names without '=' or NUL".
    "orchion.v1.JobSpec.env": {
        "propertyNames": {"pattern": "^[^=]+$", "x-orchion-expected": "a variable name without `=`"}
    },
    # JobRequirements.validate: "non-empty label keys".
    "orchion.v1.JobSpec.constraints": {"propertyNames": {"minLength": 1}},
    # The scheduler compares arch byte for byte with what `uname -m` prints.
    "orchion.v1.JobSpec.arch": {
        "pattern": "^(?!(arm64|amd64|x64)$)",
        "x-orchion-expected": "an architecture as `uname -m` prints it: `aarch64` (not `arm64`), `x86_64` (not `amd64`)",
    },
    # Agents report these lower-case vendors (HostInventory.GPU.vendor); the scheduler compares byte for byte.
    "orchion.v1.GPURequest.vendor": {"enum": ["nvidia", "amd", "intel"]},
    # RetryPolicy.attemptLimit.
    "orchion.v1.RetryPolicy.max_attempts": {"maximum": 1000},
    # ControlPlane.submit: "request_id: expected at most 256 bytes without NUL".
    "orchion.v1.SubmitJobRequest.request_id": {"maxLength": 256},
}

ENVELOPE = [
    ("apiVersion", {"description": "The spec format's version.", "const": "orchion/v1"}),
    ("kind", {"description": "What the document describes.", "const": "Job"}),
    ("count", {
        "description": "An array job: this many copies of the job, each with ORCHION_ARRAY_INDEX "
        "(0 to count - 1) and ORCHION_ARRAY_COUNT in its environment. Default 1.",
        "type": "integer", "minimum": 1, "maximum": ARRAY_LIMIT,
    }),
]

SIZE = {
    "type": ["integer", "string"], "minimum": 0,
    "pattern": "^[0-9]+(\\.[0-9]+)?([kKMGTPE]i?)?B?$",
    "x-orchion-expected": "a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes",
    "x-orchion-unit": "bytes",
}
MILLIS = {
    "type": ["number", "string"], "minimum": 0,
    "pattern": "^[0-9]+(\\.[0-9]+)?m?$",
    "x-orchion-expected": "a number such as `2` or `0.5`, or thousandths such as `500m`",
    "x-orchion-unit": "millis",
}
DURATION_SCHEMA = {
    "type": ["integer", "string"], "minimum": 0, "maximum": JOB_RANGE_SECONDS,
    "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h|d))+$",
    "x-orchion-expected": "a duration such as `90s`, `10m`, `1h30m` or a number of seconds",
    "x-orchion-unit": "duration",
}
UNIT_SUFFIXES = {"_bytes": (SIZE, "Bytes"), "_millis": (MILLIS, "Millis")}
UNIT_WORDS = {"bytes": "A size: bytes, or `512Mi`, `4Gi`, `1.5G`.",
              "millis": "A number of units (`2`, `0.5`) or thousandths (`500m`).",
              "duration": "A duration: seconds, or `90s`, `10m`, `1h30m`."}

# FieldDescriptorProto.Type numbers.
STRING, BOOL, INT32, UINT32, INT64, UINT64, MESSAGE, ENUM = 9, 8, 5, 13, 3, 4, 11, 14
INTEGER_RANGES = {
    INT32: (-(2**31), 2**31 - 1), UINT32: (0, 2**32 - 1), INT64: (-(2**63), 2**63 - 1), UINT64: (0, None),
}
REPEATED = 3


class Descriptors:
    """Messages and enums by full name, with their leading comments."""

    def __init__(self, files):
        self.messages, self.enums, self.comments = {}, {}, {}
        for file in files.file:
            notes = {}
            for location in file.source_code_info.location:
                text = (location.leading_comments or location.trailing_comments).strip()
                if text:
                    notes[tuple(location.path)] = " ".join(line.strip() for line in text.splitlines())
            for index, message in enumerate(file.message_type):
                self.add(file.package, message, (4, index), notes)
            for enum in file.enum_type:
                self.enums[f"{file.package}.{enum.name}"] = enum

    def add(self, scope, message, path, notes):
        name = f"{scope}.{message.name}"
        self.messages[name] = message
        self.comments[name] = notes.get(path, "")
        for index, field in enumerate(message.field):
            self.comments[f"{name}.{field.name}"] = notes.get(path + (2, index), "")
        for index, nested in enumerate(message.nested_type):
            self.add(name, nested, path + (3, index), notes)
        for enum in message.enum_type:
            self.enums[f"{name}.{enum.name}"] = enum

    def message(self, type_name):
        return self.messages[type_name.lstrip(".")]


def property_name(field):
    for suffix, (_, json_suffix) in UNIT_SUFFIXES.items():
        if field.name.endswith(suffix) and field.type == UINT64 and field.json_name.endswith(json_suffix):
            return field.json_name[: -len(json_suffix)]
    return field.json_name


def unit_schema(field):
    if field.type == UINT64:
        for suffix, (schema, _) in UNIT_SUFFIXES.items():
            if field.name.endswith(suffix):
                return dict(schema)
    if field.type == MESSAGE and field.type_name == DURATION:
        return dict(DURATION_SCHEMA)
    return None


def scalar_schema(field, descriptors, where):
    unit = unit_schema(field)
    if unit is not None:
        return unit
    if field.type == STRING:
        return {"type": "string"}
    if field.type == BOOL:
        return {"type": "boolean"}
    if field.type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[field.type]
        schema = {"type": "integer", "minimum": low}
        if high is not None:
            schema["maximum"] = high
        return schema
    if field.type == ENUM:
        enum = descriptors.enums[field.type_name.lstrip(".")]
        return {"enum": [value.name for value in enum.value if value.number != 0]}
    raise SystemExit(f"job_schema.py: no rule for field {where} of type {field.type} {field.type_name}")


def field_schema(field, descriptors, where, proto_path):
    """The schema of one field's value at proto JSON path `proto_path`."""
    if field.type == MESSAGE and field.type_name != DURATION:
        message = descriptors.message(field.type_name)
        if message.options.map_entry:
            key, value = message.field
            if key.type != STRING or value.type != STRING:
                raise SystemExit(f"job_schema.py: no rule for map field {where}")
            schema = {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            }
        else:
            schema = message_schema(field.type_name.lstrip("."), descriptors, proto_path)
            return schema
    elif field.label == REPEATED:
        schema = {"type": "array", "items": scalar_schema(field, descriptors, where)}
    else:
        schema = scalar_schema(field, descriptors, where)
    schema["x-orchion-proto"] = proto_path
    return schema


def described(schema, text):
    unit = schema.get("x-orchion-unit")
    words = " ".join(part for part in (text, UNIT_WORDS.get(unit, "")) if part)
    return {"description": words, **schema} if words else schema


def message_properties(name, descriptors, proto_prefix, properties, exclusive):
    """Adds the properties of message `name` (proto JSON path `proto_prefix`) to `properties`."""
    message = descriptors.messages[name]
    for field in message.field:
        full = f"{name}.{field.name}"
        if full in OMITTED:
            continue
        proto_path = f"{proto_prefix}{field.json_name}"
        if full in INLINE:
            message_properties(field.type_name.lstrip("."), descriptors, proto_path + ".", properties, exclusive)
            continue
        if full in MOVED:
            target = MOVED[full]
            proto_path = find_proto_path(target, descriptors)
            field = target_field(target, descriptors, field)
        schema = field_schema(field, descriptors, full, proto_path)
        schema.update(BOUNDS.get(full, {}))
        text = descriptors.comments.get(full) or descriptors.comments.get(field.type_name.lstrip("."), "")
        name_in_yaml = property_name_of(full, descriptors) if full in MOVED else property_name(field)
        properties[name_in_yaml] = described(schema, text)
    for first, second in EXCLUSIVE:
        if first.rsplit(".", 1)[0] == name:
            exclusive.append((property_name_of(first, descriptors), property_name_of(second, descriptors)))


def property_name_of(full, descriptors):
    message, field_name = full.rsplit(".", 1)
    return property_name(next(f for f in descriptors.messages[message].field if f.name == field_name))


def target_field(full, descriptors, moved):
    message, field_name = full.rsplit(".", 1)
    target = next(f for f in descriptors.messages[message].field if f.name == field_name)
    if target.type != moved.type or target.label != moved.label:
        raise SystemExit(f"job_schema.py: MOVED {full} differs in type from the field written in its place")
    return target


def find_proto_path(full, descriptors):
    """The proto JSON path of field `full` within the document (searched from DOCUMENT)."""
    message, field_name = full.rsplit(".", 1)
    target = next(f for f in descriptors.messages[message].field if f.name == field_name)

    def search(name, prefix, seen):
        if name == message:
            return prefix + target.json_name
        for field in descriptors.messages[name].field:
            child = field.type_name.lstrip(".")
            if field.type == MESSAGE and child in descriptors.messages and child not in seen:
                found = search(child, f"{prefix}{field.json_name}.", seen | {child})
                if found:
                    return found
        return None

    path = search(DOCUMENT, "", {DOCUMENT})
    if path is None:
        raise SystemExit(f"job_schema.py: MOVED target {full} is not in {DOCUMENT}")
    return path


def message_schema(name, descriptors, proto_path):
    properties, exclusive = {}, []
    message_properties(name, descriptors, proto_path + "." if proto_path else "", properties, exclusive)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if exclusive:
        schema["oneOf"] = [{"required": [one]} for pair in exclusive for one in pair]
    return schema


def document_schema(descriptors):
    body = message_schema(DOCUMENT, descriptors, "")
    properties = dict(ENVELOPE)
    properties.update(body["properties"])
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Orchion job spec",
        "description": "One YAML document of an `orchion job submit` file: an orchion.v1.SubmitJobRequest. "
        "Generated from sdk/proto/orchion.protoset by sdk/proto/job_schema.py; do not edit.",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": properties,
        "additionalProperties": False,
    }
    if "oneOf" in body:
        schema["oneOf"] = body["oneOf"]
    return schema


def swift_source(text):
    hashes = "#"
    while f'"""{hashes}' in text or f'"{hashes}' in text:
        hashes += "#"
    return (
        "// Generated from sdk/proto/orchion.protoset by sdk/proto/job_schema.py; do not edit.\n"
        "// swift-format-ignore-file\n"
        "\n"
        "extension JobSchema {\n"
        "    /// The job spec JSON Schema, as committed in sdk/schema/job.schema.json.\n"
        f'    static let json = {hashes}"""\n'
        f"{text}\n"  # a blank line, so the literal ends with the file's final line break
        f'        """{hashes}\n'
        "}\n"
    )


def main(protoset, schema_out, swift_out):
    files = descriptor_pb2.FileDescriptorSet()
    with open(protoset, "rb") as handle:
        files.ParseFromString(handle.read())
    schema = document_schema(Descriptors(files))
    text = json.dumps(schema, indent=2, ensure_ascii=True) + "\n"
    with open(schema_out, "w", encoding="ascii", newline="\n") as handle:
        handle.write(text)
    indented = "".join("        " + line if line.strip() else line for line in text.splitlines(keepends=True))
    with open(swift_out, "w", encoding="ascii", newline="\n") as handle:
        handle.write(swift_source(indented))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: job_schema.py PROTOSET SCHEMA_JSON SWIFT_SOURCE")
    main(*sys.argv[1:])
