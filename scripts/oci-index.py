#!/usr/bin/env python3
"""Join single-platform `docker save` archives into one multi-platform OCI image (stdlib only).

    oci-index.py --layout DIR [--archive FILE.tar] --name REPO --tag TAG SAVE.tar [SAVE.tar ...]

Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
`oci-layout`, `blobs/sha256/<hex>` and `index.json`. index.json holds one descriptor, of the image
index that lists one image manifest per archive with the platform its config declares (the shape
`docker buildx build --output type=oci` writes), annotated with the tag
(`org.opencontainers.image.ref.name`) and the full name (`io.containerd.image.name`, which
`ctr images import` uses). Per archive: the config is kept byte for byte (its digest stays the
docker image ID), each layer is checked against the config's rootfs.diff_ids and stored gzipped
(mtime 0). --archive also writes the layout as one tar (an `oci-archive`). Refuses an archive
holding more or less than one image, a digest mismatch, or two archives of the same platform.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def fail(msg):
    sys.exit(f"oci-index: {msg}")


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)

    def put(self, media_type, data, **extra):
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.root, "blobs", "sha256", digest)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def image_from_save(layout, path):
    with tarfile.open(path) as tar:
        def read(name):
            member = tar.extractfile(name)
            if member is None:
                fail(f"{path}: {name} is not a file")
            return member.read()

        entries = json.loads(read("manifest.json"))
        if len(entries) != 1:
            fail(f"{path}: {len(entries)} images in the archive, want 1")
        entry = entries[0]
        config_bytes = read(entry["Config"])
        config = json.loads(config_bytes)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(entry["Layers"]):
            fail(f"{path}: {len(entry['Layers'])} layers, config lists {len(diff_ids)} diff_ids")
        layers = []
        for name, diff_id in zip(entry["Layers"], diff_ids):
            data = read(name)
            got = "sha256:" + hashlib.sha256(data).hexdigest()
            if got != diff_id:
                fail(f"{path}: layer {name} is {got}, config says {diff_id}")
            layers.append(layout.put(LAYER_GZIP, gzip.compress(data, compresslevel=6, mtime=0)))
    platform = {"architecture": config["architecture"], "os": config["os"]}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": layout.put(CONFIG, config_bytes),
        "layers": layers,
    }
    return layout.put(MANIFEST, canonical(manifest), platform=platform)


def write_archive(root, archive):
    """The layout as one tar, members sorted, owner root, mtime 0: same layout, same bytes."""
    names = ["oci-layout", "index.json", "blobs", "blobs/sha256"]
    names += [f"blobs/sha256/{b}" for b in sorted(os.listdir(os.path.join(root, "blobs", "sha256")))]
    with tarfile.open(archive + ".tmp", "w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            info = tar.gettarinfo(os.path.join(root, name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isdir():
                tar.addfile(info)
            else:
                with open(os.path.join(root, name), "rb") as f:
                    tar.addfile(info, f)
    os.replace(archive + ".tmp", archive)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layout", required=True, help="OCI layout directory to write (must not exist)")
    ap.add_argument("--archive", help="also write the layout as this tar file")
    ap.add_argument("--name", required=True, help="repository, e.g. ghcr.io/fsb-guard/velero-fsb-guard")
    ap.add_argument("--tag", required=True)
    ap.add_argument("saves", nargs="+", help="docker save archives, one image each")
    args = ap.parse_args()
    if os.path.exists(args.layout):
        fail(f"{args.layout} exists")
    layout = Layout(args.layout)
    manifests = [image_from_save(layout, s) for s in args.saves]
    platforms = ["/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"],
                                        m["platform"].get("variant")))) for m in manifests]
    if len(set(platforms)) != len(platforms):
        fail(f"platform listed twice: {platforms}")
    index = layout.put(INDEX, canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}))
    index["annotations"] = {
        "io.containerd.image.name": f"{args.name}:{args.tag}",
        "org.opencontainers.image.ref.name": args.tag,
    }
    with open(os.path.join(args.layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(args.layout, "index.json"), "wb") as f:
        f.write(canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": [index]}))
    if args.archive:
        write_archive(args.layout, args.archive)
    print(f"{args.name}:{args.tag} index {index['digest']}")
    for m, p in zip(manifests, platforms):
        print(f"  {p:<14} manifest {m['digest']} ({m['size']} bytes)")


if __name__ == "__main__":
    main()
