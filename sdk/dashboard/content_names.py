"""Renames esbuild's output to names hashed from the bytes alone.

esbuild's own [hash] also covers the modules' paths relative to the working
directory (/usr/share/nodejs seen from the clone), so the same sources give
other names, and another assets.c, in a clone at another depth. Here each
file becomes `<stem>-<hash>.<ext>`, the hash being the first 8 base32
characters of the SHA-256 of its content once the files it names carry their
new names; files are renamed after the files they name (esbuild's chunks
form no cycle; one is refused).

    python3 content_names.py ASSETS_DIR    prints "main.js=NEW main.css=NEW"
"""
import base64
import hashlib
import os
import sys


def content_name(old, data):
    stem = old.split("-", 1)[0]
    extension = old.rsplit(".", 1)[1]
    digest = base64.b32encode(hashlib.sha256(data).digest()).decode()[:8]
    return f"{stem}-{digest}.{extension}"


def main(directory):
    contents = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as handle:
            contents[name] = handle.read()
    references = {
        name: [other for other in contents if other != name and other.encode() in data]
        for name, data in contents.items()
    }
    renamed = {}
    while len(renamed) < len(contents):
        ready = [n for n in contents if n not in renamed and all(r in renamed for r in references[n])]
        if not ready:
            sys.exit(f"content_names.py: the files in {directory} name each other in a cycle")
        for name in ready:
            data = contents[name]
            for other in references[name]:
                data = data.replace(other.encode(), renamed[other].encode())
            renamed[name] = content_name(name, data)
            os.remove(os.path.join(directory, name))
            with open(os.path.join(directory, renamed[name]), "wb") as handle:
                handle.write(data)
    entries = {n.split("-", 1)[0] + "." + n.rsplit(".", 1)[1]: new for n, new in renamed.items() if n.startswith("main-")}
    print(" ".join(f"{key}={value}" for key, value in sorted(entries.items())))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: content_names.py ASSETS_DIR")
    main(sys.argv[1])
