#!/usr/bin/env python3
"""Writes a small TUF repository for the `wsc trust update` tests.

One target, `trusted_root.json`, with the bytes of a given file; root,
timestamp, snapshot and targets metadata, each signed by its own fresh
ed25519 key; consistent snapshots, laid out as Sigstore's repository is:

    OUT/1.root.json  OUT/timestamp.json  OUT/1.snapshot.json  OUT/1.targets.json
    OUT/targets/<sha256>.trusted_root.json

and OUT/root.json, the same as 1.root.json, for the client to trust first.

Usage: make_repo.py OUT TARGET_FILE [--timestamp-expires-days N]
(N may be negative: an expired timestamp). Needs python-tuf (6.x or 7.x).
"""

import argparse
import hashlib
import os
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

ROLES = ("root", "timestamp", "snapshot", "targets")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("target")
    ap.add_argument("--timestamp-expires-days", type=int, default=30)
    args = ap.parse_args()

    now = datetime.now(timezone.utc).replace(microsecond=0)
    far = now + timedelta(days=365)
    signers = {r: CryptoSigner.generate_ed25519() for r in ROLES}

    root = Root(expires=far, consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)

    with open(args.target, "rb") as f:
        content = f.read()
    targets = Targets(expires=far)
    target = TargetFile.from_data("trusted_root.json", content, ["sha256"])
    targets.targets[target.path] = target

    serializer = JSONSerializer(compact=False)

    def signed(md_signed, role: str) -> bytes:
        md = Metadata(md_signed)
        md.sign(signers[role])
        return md.to_bytes(serializer)

    targets_bytes = signed(targets, "targets")
    snapshot = Snapshot(expires=far)
    snapshot.meta["targets.json"] = MetaFile(version=targets.version)
    snapshot_bytes = signed(snapshot, "snapshot")
    timestamp = Timestamp(expires=now + timedelta(days=args.timestamp_expires_days))
    timestamp.snapshot_meta = MetaFile(
        version=snapshot.version,
        length=len(snapshot_bytes),
        hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
    )
    timestamp_bytes = signed(timestamp, "timestamp")
    root_bytes = signed(root, "root")

    os.makedirs(os.path.join(args.out, "targets"), exist_ok=True)
    files = {
        "1.root.json": root_bytes,
        "root.json": root_bytes,
        "timestamp.json": timestamp_bytes,
        f"{snapshot.version}.snapshot.json": snapshot_bytes,
        f"{targets.version}.targets.json": targets_bytes,
        os.path.join("targets", f"{target.hashes['sha256']}.trusted_root.json"): content,
    }
    for name, data in files.items():
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
