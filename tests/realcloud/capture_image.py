"""Capture real Cinder's answers for image metadata and reimage (issue 15) into tests/realcloud/captures/.

    .venv/bin/python tests/realcloud/capture_image.py [AUTH_URL]

The same rig as capture_snapshots.py (alice, project demo; everything it makes it deletes)."""

from __future__ import annotations

import sys

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import capture_snapshots  # noqa: E402
from capture_snapshots import Rig  # noqa: E402

capture_snapshots.TRANSITIONAL.add("downloading")  # what os-reimage moves a volume to


def run(rig: Rig, auth_url: str) -> None:
    vid = rig.volume("capture-image")
    n = 125
    act = f"/volumes/{vid}/action"
    # --- image metadata ---
    rig.capture(n, "set-image-metadata", "POST", act,
                {"os-set_image_metadata": {"metadata": {"os_distro": "debian", "hw_disk_bus": "scsi"}}})
    rig.capture(n + 1, "get-volume-image-metadata", "GET", f"/volumes/{vid}")
    rig.capture(n + 2, "set-image-metadata-bad-key", "POST", act,
                {"os-set_image_metadata": {"metadata": {"bad*key": "x"}}})
    rig.capture(n + 3, "set-image-metadata-key-256", "POST", act,
                {"os-set_image_metadata": {"metadata": {"k" * 256: "x"}}})
    rig.capture(n + 4, "set-image-metadata-value-control", "POST", act,
                {"os-set_image_metadata": {"metadata": {"note": "a\u0007b"}}})
    rig.capture(n + 5, "set-image-metadata-value-65536", "POST", act,
                {"os-set_image_metadata": {"metadata": {"big": "v" * 65536}}})
    rig.capture(n + 6, "set-image-metadata-value-not-string", "POST", act,
                {"os-set_image_metadata": {"metadata": {"num": 1}}})
    rig.capture(n + 7, "set-image-metadata-protected-keys", "POST", act,
                {"os-set_image_metadata": {"metadata": {"image_id": "x", "checksum": "y", "size": "z"}}})
    rig.capture(n + 8, "set-image-metadata-missing", "POST", act, {"os-set_image_metadata": {}})
    rig.capture(n + 9, "unset-image-metadata", "POST", act, {"os-unset_image_metadata": {"key": "hw_disk_bus"}})
    rig.capture(n + 10, "unset-image-metadata-unknown", "POST", act, {"os-unset_image_metadata": {"key": "nope"}})
    rig.capture(n + 11, "unset-image-metadata-key-256", "POST", act, {"os-unset_image_metadata": {"key": "k" * 256}})
    rig.capture(n + 12, "show-image-metadata", "POST", act, {"os-show_image_metadata": {}})
    r = rig.call("POST", act, {"os-attach": {"host_name": "cap-host", "mountpoint": "/dev/vdc"}})
    assert r.status_code == 202, r.text
    rig.settle(f"/volumes/{vid}")
    rig.capture(n + 13, "set-image-metadata-in-use", "POST", act,
                {"os-set_image_metadata": {"metadata": {"purpose": "in use"}}})
    bob = ks_session.Session(auth=v3.Password(auth_url=auth_url, username="bob", password="demo",
                                              project_name="other", user_domain_name="Default",
                                              project_domain_name="Default"), timeout=30)
    other = bob.post(rig.base.rsplit("/", 1)[0] + "/" + bob.get_project_id() + act, raise_exc=False,
                     json={"os-set_image_metadata": {"metadata": {"x": "y"}}},
                     headers={"OpenStack-API-Version": "volume 3.0"})
    print("bob sets image metadata on alice's volume:", other.status_code, other.text[:300])
    # --- reimage ---
    rig.capture(n + 15, "reimage-in-use-3.68", "POST", act,
                {"os-reimage": {"image_id": _image(rig)}}, "3.68")
    fresh = rig.volume("capture-reimage")
    act = f"/volumes/{fresh}/action"
    rig.capture(n + 16, "reimage-no-microversion", "POST", act, {"os-reimage": {"image_id": _image(rig)}})
    rig.capture(n + 17, "reimage-bad-uuid-3.68", "POST", act, {"os-reimage": {"image_id": "nope"}}, "3.68")
    rig.capture(n + 18, "reimage-unknown-image-3.68", "POST", act,
                {"os-reimage": {"image_id": "3fa38c0e-2fa7-4244-aba7-bdf63a609ee7"}}, "3.68")
    rig.capture(n + 19, "reimage-reserved-not-boolean-3.68", "POST", act,
                {"os-reimage": {"image_id": _image(rig), "reimage_reserved": "maybe"}}, "3.68")
    rig.capture(n + 20, "reimage-3.68", "POST", act, {"os-reimage": {"image_id": _image(rig)}}, "3.68",
                follow=f"/volumes/{fresh}")
    rig.capture(n + 21, "get-volume-after-reimage", "GET", f"/volumes/{fresh}", version="3.68")
    rig.capture(n + 22, "messages-after-reimage", "GET", f"/messages?resource_uuid={fresh}", version="3.5")


def _image(rig: Rig) -> str:
    glance = rig.s.get_endpoint(service_type="image", interface="public")
    return str(rig.s.get(glance + "/v2/images").json()["images"][0]["id"])


def main(auth_url: str) -> None:
    rig = Rig(auth_url)
    try:
        run(rig, auth_url)
    finally:
        rig.cleanup()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000/v3")
