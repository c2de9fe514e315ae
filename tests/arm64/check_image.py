#!/usr/bin/env python3
"""Check the multi-arch plugin image (an OCI image layout) against what the project promises.

    check_image.py check LAYOUT --tag TAG       prints one line per check, then "N passed, M failed"
    check_image.py mutate LAYOUT OUT FAULT      a copy of LAYOUT with one deliberate fault (self-test)

The expected values are written here from the spec (Dockerfile, README, docs/building.md), not read
from the image: the two platforms, the entrypoint, the user, and the ELF machine of the binary each
platform must carry. Every blob read is verified against its digest and size first.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import tarfile

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = ("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar")

# The spec.
BINARY = "plugins/velero-fsb-guard"
ENTRYPOINT = ["/plugins/velero-fsb-guard", "install", "--to", "/target"]
USER = "65532:65532"
# platform -> ELF e_machine of the binary (elf.h: EM_X86_64 = 62, EM_AARCH64 = 183)
PLATFORMS = {("linux", "amd64"): (62, "EM_X86_64"), ("linux", "arm64"): (183, "EM_AARCH64")}
PT_INTERP = 3


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail):
        print(f"{'ok' if ok else 'FAILED'}: {name}: {detail}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def blob(root, desc):
    algo, _, hexd = desc["digest"].partition(":")
    if algo != "sha256":
        raise ValueError(f"unsupported digest {desc['digest']}")
    with open(os.path.join(root, "blobs", "sha256", hexd), "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if got != hexd or len(data) != desc["size"]:
        raise ValueError(f"blob {desc['digest']}: content is sha256:{got}, {len(data)} bytes (descriptor: {desc['size']})")
    return data


def elf_info(data):
    """(e_machine, has PT_INTERP) of a 64-bit little-endian ELF, or None if it is not one."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    e_machine = struct.unpack_from("<H", data, 18)[0]
    e_phoff = struct.unpack_from("<Q", data, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    interp = any(struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] == PT_INTERP for i in range(e_phnum))
    return e_machine, interp


def file_in_layers(root, layers, path):
    """The file at path in the image's filesystem (last layer wins), as (TarInfo, bytes) or None."""
    found = None
    for desc in layers:
        data = blob(root, desc)
        if desc["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                if m.name.lstrip("./").rstrip("/") == path:
                    found = (m, tar.extractfile(m).read() if m.isfile() else b"")
    return found


def check_manifest(root, c, desc, tag, diff_ids_of):
    plat = (desc.get("platform") or {})
    key = (plat.get("os"), plat.get("architecture"))
    name = f"{key[0]}/{key[1]}"
    c.check(f"{name} manifest media type", desc.get("mediaType") == MANIFEST, desc.get("mediaType"))
    manifest = json.loads(blob(root, desc))
    cdesc = manifest["config"]
    c.check(f"{name} config media type", cdesc["mediaType"] == CONFIG, cdesc["mediaType"])
    config = json.loads(blob(root, cdesc))
    c.check(f"{name} config platform", (config.get("os"), config.get("architecture")) == key,
            f"config says {config.get('os')}/{config.get('architecture')}")
    cc = config.get("config") or {}
    c.check(f"{name} entrypoint", cc.get("Entrypoint") == ENTRYPOINT, json.dumps(cc.get("Entrypoint")))
    c.check(f"{name} no cmd", not cc.get("Cmd"), json.dumps(cc.get("Cmd")))
    c.check(f"{name} user", cc.get("User") == USER, json.dumps(cc.get("User")))
    version = (cc.get("Labels") or {}).get("org.opencontainers.image.version")
    c.check(f"{name} version label", version == tag, json.dumps(version))
    layers = manifest["layers"]
    c.check(f"{name} layer media types", all(l["mediaType"] in LAYER_TYPES for l in layers),
            " ".join(l["mediaType"] for l in layers))
    diff_ids = diff_ids_of(layers)
    c.check(f"{name} rootfs diff_ids", config.get("rootfs", {}).get("diff_ids") == diff_ids,
            f"{len(diff_ids)} layer(s), uncompressed digests match the config")
    found = file_in_layers(root, layers, BINARY)
    if not c.check(f"{name} /{BINARY} present", found is not None and found[0].isfile(),
                   "regular file" if found else "missing"):
        return
    info, data = found
    c.check(f"{name} /{BINARY} executable", info.mode & 0o111 == 0o111, f"mode {info.mode:o}, {len(data)} bytes")
    elf = elf_info(data)
    want, want_name = PLATFORMS.get(key, (None, "?"))
    c.check(f"{name} /{BINARY} ELF machine", elf is not None and elf[0] == want,
            f"e_machine {elf[0] if elf else 'not a 64-bit LE ELF'}, want {want} ({want_name})")
    c.check(f"{name} /{BINARY} static", elf is not None and not elf[1],
            "no PT_INTERP" if elf and not elf[1] else "has an interpreter (dynamically linked)")


def check(root, tag):
    c = Checks()

    def diff_ids_of(layers):
        out = []
        for d in layers:
            data = blob(root, d)
            if d["mediaType"].endswith("+gzip"):
                data = gzip.decompress(data)
            out.append("sha256:" + hashlib.sha256(data).hexdigest())
        return out

    try:
        with open(os.path.join(root, "oci-layout")) as f:
            c.check("oci-layout", json.load(f).get("imageLayoutVersion") == "1.0.0", "imageLayoutVersion 1.0.0")
        with open(os.path.join(root, "index.json")) as f:
            top = json.load(f)
        entries = top.get("manifests", [])
        if c.check("index.json: one image index", len(entries) == 1 and entries[0].get("mediaType") == INDEX,
                   f"{len(entries)} descriptor(s): {[e.get('mediaType') for e in entries]}"):
            ref = (entries[0].get("annotations") or {}).get("org.opencontainers.image.ref.name")
            c.check("index.json: ref name", ref == tag, json.dumps(ref))
            index = json.loads(blob(root, entries[0]))
            c.check("image index media type", index.get("mediaType") == INDEX and index.get("schemaVersion") == 2,
                    f"{index.get('mediaType')}, schemaVersion {index.get('schemaVersion')}")
            listed = [((m.get("platform") or {}).get("os"), (m.get("platform") or {}).get("architecture"))
                      for m in index.get("manifests", [])]
            c.check("image index platforms", sorted(listed) == sorted(PLATFORMS),
                    " ".join(f"{o}/{a}" for o, a in listed))
            for m in index.get("manifests", []):
                check_manifest(root, c, m, tag, diff_ids_of)
    except (OSError, ValueError, KeyError, json.JSONDecodeError, tarfile.TarError) as e:
        c.check("layout readable", False, f"{type(e).__name__}: {e}")
    print(f"{c.passed} passed, {c.failed} failed")
    return c.failed == 0


# ---------------------------------------------------------------- self-test: deliberate faults
def mutate(src, dst, fault):
    """A copy of the layout with one fault, every digest recomputed (so only the intended check fails)."""
    shutil.copytree(src, dst, copy_function=os.link)   # hard links: every write below replaces

    def write(path, data):
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)

    def put(obj, media_type, **extra):
        data = json.dumps(obj, separators=(",", ":")).encode()
        hexd = hashlib.sha256(data).hexdigest()
        write(os.path.join(dst, "blobs", "sha256", hexd), data)
        return {"mediaType": media_type, "digest": "sha256:" + hexd, "size": len(data), **extra}

    with open(os.path.join(dst, "index.json")) as f:
        top = json.load(f)
    index = json.loads(blob(dst, top["manifests"][0]))
    by_arch = {m["platform"]["architecture"]: m for m in index["manifests"]}
    arm = by_arch["arm64"]
    if fault == "wrong-arch-binary":
        # linux/arm64's manifest and config as they are, but with the amd64 image's layer.
        amd_manifest = json.loads(blob(dst, by_arch["amd64"]))
        manifest = json.loads(blob(dst, arm))
        config = json.loads(blob(dst, manifest["config"]))
        manifest["layers"] = amd_manifest["layers"]
        config["rootfs"]["diff_ids"] = json.loads(blob(dst, amd_manifest["config"]))["rootfs"]["diff_ids"]
        manifest["config"] = put(config, CONFIG)
        new = put(manifest, MANIFEST, platform=arm["platform"])
    elif fault in ("root-user", "shell-entrypoint"):
        manifest = json.loads(blob(dst, arm))
        config = json.loads(blob(dst, manifest["config"]))
        if fault == "root-user":
            config["config"]["User"] = "0:0"
        else:
            config["config"]["Entrypoint"] = ["/plugins/velero-fsb-guard", "install", "--to", "/plugins"]
        manifest["config"] = put(config, CONFIG)
        new = put(manifest, MANIFEST, platform=arm["platform"])
    elif fault == "one-platform":
        new = None
    else:
        sys.exit(f"unknown fault {fault}")
    index["manifests"] = [m for m in index["manifests"] if m is not arm] + ([new] if new else [])
    top["manifests"][0] = put(index, INDEX, annotations=top["manifests"][0].get("annotations", {}))
    write(os.path.join(dst, "index.json"), json.dumps(top).encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check")
    p.add_argument("layout")
    p.add_argument("--tag", required=True, help="the version the image must be tagged and labelled with")
    p = sub.add_parser("mutate")
    p.add_argument("layout")
    p.add_argument("out")
    p.add_argument("fault", choices=["wrong-arch-binary", "root-user", "shell-entrypoint", "one-platform"])
    args = ap.parse_args()
    if args.cmd == "check":
        sys.exit(0 if check(args.layout, args.tag) else 1)
    mutate(args.layout, args.out, args.fault)


if __name__ == "__main__":
    main()
