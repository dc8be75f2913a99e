"""grpcio over TLS against Orchion, the cluster CA as root certificate.

Usage: tls_grpc_client.py PORT CA_FILE CLIENT_TOKEN
Prints one JSON object: the ListNodes reply's size over a channel that
trusts the CA, and the error of one that trusts only the system roots.
"""
import json
import sys

import grpc

port, ca_file, token = sys.argv[1], sys.argv[2], sys.argv[3]
auth = [("authorization", f"Bearer {token}")]
identity = dict(request_serializer=lambda b: b, response_deserializer=lambda b: b)
result = {}

with open(ca_file, "rb") as f:
    trusted = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(root_certificates=f.read()))
list_nodes = trusted.unary_unary("/orchion.v1.ControlService/ListNodes", **identity)
result["reply_bytes"] = len(list_nodes(b"", metadata=auth, timeout=10))
try:
    list_nodes(b"", timeout=10)
    result["anonymous"] = None
except grpc.RpcError as failure:
    result["anonymous"] = failure.code().name

untrusted = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials())
try:
    untrusted.unary_unary("/orchion.v1.ControlService/ListNodes", **identity)(b"", metadata=auth, timeout=10)
    result["system_roots"] = None
except grpc.RpcError as failure:
    result["system_roots"] = failure.code().name
print(json.dumps(result))
