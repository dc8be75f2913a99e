// Generated from sdk/proto/orchion.protoset by sdk/proto/job_schema.py; do not edit.
// swift-format-ignore-file

extension JobSchema {
    /// The job spec JSON Schema, as committed in sdk/schema/job.schema.json.
    static let json = #"""
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "title": "Orchion job spec",
          "description": "One YAML document of an `orchion job submit` file: an orchion.v1.SubmitJobRequest. Generated from sdk/proto/orchion.protoset by sdk/proto/job_schema.py; do not edit.",
          "type": "object",
          "required": [
            "apiVersion",
            "kind"
          ],
          "properties": {
            "apiVersion": {
              "description": "The spec format's version.",
              "const": "orchion/v1"
            },
            "kind": {
              "description": "What the document describes.",
              "const": "Job"
            },
            "count": {
              "description": "An array job: this many copies of the job, each with ORCHION_ARRAY_INDEX (0 to count - 1) and ORCHION_ARRAY_COUNT in its environment. Default 1.",
              "type": "integer",
              "minimum": 1,
              "maximum": 100000
            },
            "name": {
              "description": "A human name; need not be unique.",
              "type": "string",
              "x-orchion-proto": "spec.name",
              "maxLength": 253,
              "pattern": "^[^\\n]*$",
              "x-orchion-expected": "one line"
            },
            "command": {
              "description": "A shell command line, run with /bin/sh -c.",
              "type": "string",
              "x-orchion-proto": "spec.command",
              "minLength": 1
            },
            "argv": {
              "description": "A program and its arguments, run directly.",
              "type": "array",
              "items": {
                "type": "string"
              },
              "x-orchion-proto": "spec.argv",
              "minItems": 1,
              "prefixItems": [
                {
                  "type": "string",
                  "minLength": 1
                }
              ]
            },
            "env": {
              "description": "Extra environment variables.",
              "type": "object",
              "additionalProperties": {
                "type": [
                  "string",
                  "number",
                  "boolean"
                ]
              },
              "x-orchion-proto": "spec.env",
              "propertyNames": {
                "pattern": "^[^=]+$",
                "x-orchion-expected": "a variable name without `=`"
              }
            },
            "cwd": {
              "description": "Working directory on the node; empty for the agent's work directory.",
              "type": "string",
              "x-orchion-proto": "spec.cwd"
            },
            "user": {
              "description": "User to run as on the node; empty for the agent's user.",
              "type": "string",
              "x-orchion-proto": "spec.user"
            },
            "resources": {
              "description": "CPU and memory needed (`gpus` is taken from `gpu.count`).",
              "type": "object",
              "properties": {
                "cpu": {
                  "description": "CPU in thousandths of a core (1000 = one core). A number of units (`2`, `0.5`) or thousandths (`500m`).",
                  "type": [
                    "number",
                    "string"
                  ],
                  "minimum": 0,
                  "pattern": "^[0-9]+(\\.[0-9]+)?m?$",
                  "x-orchion-expected": "a number such as `2` or `0.5`, or thousandths such as `500m`",
                  "x-orchion-unit": "millis",
                  "x-orchion-proto": "spec.resources.cpuMillis"
                },
                "memory": {
                  "description": "Memory in bytes. A size: bytes, or `512Mi`, `4Gi`, `1.5G`.",
                  "type": [
                    "integer",
                    "string"
                  ],
                  "minimum": 0,
                  "pattern": "^[0-9]+(\\.[0-9]+)?([kKMGTPE]i?)?B?$",
                  "x-orchion-expected": "a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes",
                  "x-orchion-unit": "bytes",
                  "x-orchion-proto": "spec.resources.memoryBytes"
                },
                "gpus": {
                  "description": "Whole GPUs.",
                  "type": "integer",
                  "minimum": 0,
                  "maximum": 4294967295,
                  "x-orchion-proto": "spec.gpu.count"
                }
              },
              "additionalProperties": false
            },
            "gpu": {
              "description": "What a job asks of a node's GPUs.",
              "type": "object",
              "properties": {
                "vendor": {
                  "description": "Required vendor (\"nvidia\", \"amd\", \"intel\"), or empty for any.",
                  "type": "string",
                  "x-orchion-proto": "spec.gpu.vendor",
                  "enum": [
                    "nvidia",
                    "amd",
                    "intel"
                  ]
                },
                "model": {
                  "description": "Required substring of the model name, case-insensitive, or empty.",
                  "type": "string",
                  "x-orchion-proto": "spec.gpu.model"
                },
                "minMemory": {
                  "description": "Minimum memory of each GPU in bytes. A size: bytes, or `512Mi`, `4Gi`, `1.5G`.",
                  "type": [
                    "integer",
                    "string"
                  ],
                  "minimum": 0,
                  "pattern": "^[0-9]+(\\.[0-9]+)?([kKMGTPE]i?)?B?$",
                  "x-orchion-expected": "a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes",
                  "x-orchion-unit": "bytes",
                  "x-orchion-proto": "spec.gpu.minMemoryBytes"
                }
              },
              "additionalProperties": false
            },
            "arch": {
              "description": "Required architecture, or empty for any.",
              "type": "string",
              "x-orchion-proto": "spec.arch",
              "pattern": "^(?!(arm64|amd64|x64)$)",
              "x-orchion-expected": "an architecture as `uname -m` prints it: `aarch64` (not `arm64`), `x86_64` (not `amd64`)"
            },
            "constraints": {
              "description": "Node labels that must be present with these values.",
              "type": "object",
              "additionalProperties": {
                "type": [
                  "string",
                  "number",
                  "boolean"
                ]
              },
              "x-orchion-proto": "spec.constraints",
              "propertyNames": {
                "minLength": 1
              }
            },
            "strategy": {
              "description": "Scheduler plugin to place it with; empty for the default.",
              "type": "string",
              "x-orchion-proto": "spec.strategy"
            },
            "executor": {
              "description": "Executor plugin to run it with; empty for \"exec\".",
              "type": "string",
              "x-orchion-proto": "spec.executor"
            },
            "priority": {
              "description": "Higher runs first.",
              "type": "integer",
              "minimum": -2147483648,
              "maximum": 2147483647,
              "x-orchion-proto": "spec.priority"
            },
            "retry": {
              "description": "How often a failed job is tried again.",
              "type": "object",
              "properties": {
                "maxAttempts": {
                  "description": "Attempts in total, the first included; 0 means 1.",
                  "type": "integer",
                  "minimum": 0,
                  "maximum": 1000,
                  "x-orchion-proto": "spec.retry.maxAttempts"
                },
                "backoff": {
                  "description": "Wait between attempts. A duration: seconds, or `90s`, `10m`, `1h30m`.",
                  "type": [
                    "integer",
                    "string"
                  ],
                  "minimum": 0,
                  "maximum": 315576000000,
                  "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h|d))+$",
                  "x-orchion-expected": "a duration such as `90s`, `10m`, `1h30m` or a number of seconds",
                  "x-orchion-unit": "duration",
                  "x-orchion-proto": "spec.retry.backoff"
                }
              },
              "additionalProperties": false
            },
            "timeout": {
              "description": "Wall-clock limit per attempt; unset for none. A duration: seconds, or `90s`, `10m`, `1h30m`.",
              "type": [
                "integer",
                "string"
              ],
              "minimum": 0,
              "maximum": 315576000000,
              "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h|d))+$",
              "x-orchion-expected": "a duration such as `90s`, `10m`, `1h30m` or a number of seconds",
              "x-orchion-unit": "duration",
              "x-orchion-proto": "spec.timeout"
            },
            "requestId": {
              "description": "A client-chosen key: resubmitting with the same key returns the first job.",
              "type": "string",
              "x-orchion-proto": "requestId",
              "maxLength": 256
            }
          },
          "additionalProperties": false,
          "oneOf": [
            {
              "required": [
                "command"
              ]
            },
            {
              "required": [
                "argv"
              ]
            }
          ]
        }

        """#
}
