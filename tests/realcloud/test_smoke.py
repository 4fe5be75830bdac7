"""Smoke test against the real Keystone + Cinder (+ Glance) started by tests/realcloud/up.sh.

As alice (member of project demo): find volumev3 in the catalog, create a 1 GiB volume, extend it, retype it
to gold, snapshot it and revert to the snapshot at 3.40, upload it to Glance (when the env names one), watching
the status sequence of each step; then delete everything it created.

    /work/main/.venv/bin/python -m pytest tests/realcloud -q -p no:django -m realcloud
"""
import time
import uuid

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

pytestmark = pytest.mark.realcloud

POLL = 0.05  # transitional statuses can last only ~0.2 s on this rig


def mv(version):
    return {"OpenStack-API-Version": f"volume {version}"}


@pytest.fixture(scope="module")
def alice(realcloud_env):
    env = realcloud_env
    auth = v3.Password(auth_url=env["OS_AUTH_URL"], username=env["OS_USERNAME"], password=env["OS_PASSWORD"],
                       project_name=env["OS_PROJECT_NAME"], user_domain_name=env["OS_USER_DOMAIN_NAME"],
                       project_domain_name=env["OS_PROJECT_DOMAIN_NAME"])
    return ks_session.Session(auth=auth, timeout=30)


@pytest.fixture(scope="module")
def volume_url(alice, realcloud_env):
    return alice.get_endpoint(service_type="volumev3", interface="public",
                              region_name=realcloud_env["OS_REGION_NAME"])


class Tracker:
    """Polls a resource until it leaves its transitional statuses; remembers every distinct status seen."""

    def __init__(self, sess, url, key):
        self.sess, self.url, self.key = sess, url, key

    def get(self):
        r = self.sess.get(self.url, raise_exc=False, headers=mv("3.0"))
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()[self.key]

    def settle(self, transitional, timeout=120):
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get()
            status = obj["status"] if obj else "<gone>"
            if not seen or seen[-1] != status:
                seen.append(status)
            if status not in transitional:
                print(f"{self.key} {self.url.rsplit('/', 1)[-1][:8]}: {' -> '.join(seen)}")
                return obj, seen
            assert time.monotonic() < deadline, f"{self.url} stuck in {seen}"
            time.sleep(POLL)


def action(sess, volume_url, vol_id, body, version="3.0"):
    return sess.post(f"{volume_url}/volumes/{vol_id}/action", json=body, headers=mv(version), raise_exc=False)


def test_catalog_and_versions(alice, volume_url, realcloud_env):
    catalog = alice.auth.get_access(alice).service_catalog
    assert catalog.url_for(service_type="block-storage", interface="public") == volume_url
    project_id = alice.get_project_id()
    assert volume_url.endswith(f"/v3/{project_id}")
    r = alice.get(realcloud_env["REALCLOUD_CINDER_URL"] + "/", raise_exc=False, authenticated=False)
    assert r.status_code == 300
    (v3doc,) = [v for v in r.json()["versions"] if v["id"] == "v3.0"]
    assert v3doc["min_version"] == "3.0"
    assert tuple(int(x) for x in v3doc["version"].split(".")) >= (3, 42)  # revert 3.40, in-use extend 3.42
    types = alice.get(f"{volume_url}/types").json()["volume_types"]
    assert {"default", "gold"} <= {t["name"] for t in types}


def test_volume_lifecycle(alice, volume_url, realcloud_env):
    glance_url = realcloud_env.get("REALCLOUD_GLANCE_URL", "")
    name = f"realcloud-smoke-{uuid.uuid4().hex[:8]}"
    created = {"volume": None, "snapshots": [], "image": None}
    try:
        # create ------------------------------------------------------------------------------------
        r = alice.post(f"{volume_url}/volumes", json={"volume": {"size": 1, "name": name, "volume_type": "default"}},
                       headers=mv("3.0"), raise_exc=False)
        assert r.status_code == 202, r.text
        vol_id = r.json()["volume"]["id"]
        created["volume"] = vol_id
        vol = Tracker(alice, f"{volume_url}/volumes/{vol_id}", "volume")
        v, seen = vol.settle({"creating"})
        assert v["status"] == "available", seen
        assert set(seen) <= {"creating", "available"}, seen
        assert v["size"] == 1 and v["volume_type"] == "default"

        # extend 1 -> 2 -----------------------------------------------------------------------------
        r = action(alice, volume_url, vol_id, {"os-extend": {"new_size": 2}})
        assert r.status_code == 202, r.text
        v, seen = vol.settle({"extending"})
        assert (v["status"], v["size"]) == ("available", 2), seen
        assert set(seen) <= {"extending", "available"}, seen

        # retype default -> gold (same backend, driver keeps the data in place) ---------------------
        r = action(alice, volume_url, vol_id, {"os-retype": {"new_type": "gold", "migration_policy": "never"}})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while True:  # retyping -> available, and the type flips when the manager finishes
            v, seen_r = vol.settle({"retyping"})
            if v["volume_type"] == "gold" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (v["status"], v["volume_type"]) == ("available", "gold"), seen_r
        assert set(seen_r) <= {"retyping", "available"}, seen_r

        # snapshot --------------------------------------------------------------------------------------
        r = alice.post(f"{volume_url}/snapshots", json={"snapshot": {"volume_id": vol_id, "name": name + "-snap"}},
                       headers=mv("3.0"), raise_exc=False)
        assert r.status_code == 202, r.text
        snap_id = r.json()["snapshot"]["id"]
        created["snapshots"].append(snap_id)
        snap = Tracker(alice, f"{volume_url}/snapshots/{snap_id}", "snapshot")
        s, seen = snap.settle({"creating"})
        assert s["status"] == "available", seen
        assert s["size"] == 2

        # revert: below 3.40 the action does not exist; at 3.40 reverting -> available ---------------
        r = action(alice, volume_url, vol_id, {"revert": {"snapshot_id": snap_id}}, version="3.39")
        assert r.status_code == 404, r.text
        r = action(alice, volume_url, vol_id, {"revert": {"snapshot_id": snap_id}}, version="3.40")
        assert r.status_code == 202, r.text
        assert r.headers["OpenStack-API-Version"] == "volume 3.40"
        v, seen = vol.settle({"reverting"})
        assert v["status"] == "available", seen
        assert set(seen) <= {"reverting", "available"}, seen
        s, seen_s = snap.settle({"restoring"})
        assert s["status"] == "available", seen_s

        # upload to image (Glance) ----------------------------------------------------------------------
        if glance_url:
            r = action(alice, volume_url, vol_id, {"os-volume_upload_image": {
                "image_name": name + "-image", "disk_format": "qcow2", "container_format": "bare",
                "visibility": "private", "force": False}}, version="3.1")
            assert r.status_code == 202, r.text
            up = r.json()["os-volume_upload_image"]
            created["image"] = up["image_id"]
            assert up["status"] == "uploading" and up["disk_format"] == "qcow2"
            v, seen = vol.settle({"uploading"}, timeout=300)
            assert v["status"] == "available", seen
            assert set(seen) <= {"uploading", "available"}, seen
            image_url = alice.get_endpoint(service_type="image", interface="public").rstrip("/")
            deadline = time.monotonic() + 120
            while True:
                img = alice.get(f"{image_url}/v2/images/{up['image_id']}").json()
                if img["status"] not in ("queued", "saving", "importing") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert img["status"] == "active", img
            assert img["disk_format"] == "qcow2" and img["visibility"] == "private"
            assert img["size"] > 0
        else:
            r = action(alice, volume_url, vol_id, {"os-volume_upload_image": {"image_name": name + "-image"}})
            assert r.status_code == 400, r.text  # no image service in this rig
    finally:
        cleanup(alice, volume_url, created)


def test_in_use_extend_and_forced_upload(alice, volume_url, realcloud_env):
    """Attach is Cinder bookkeeping here (no Nova): extend in-use at 3.42 and a forced upload still work."""
    glance_url = realcloud_env.get("REALCLOUD_GLANCE_URL", "")
    name = f"realcloud-smoke-{uuid.uuid4().hex[:8]}"
    created = {"volume": None, "snapshots": [], "image": None}
    try:
        r = alice.post(f"{volume_url}/volumes", json={"volume": {"size": 1, "name": name}},
                       headers=mv("3.0"), raise_exc=False)
        assert r.status_code == 202, r.text
        vol_id = created["volume"] = r.json()["volume"]["id"]
        vol = Tracker(alice, f"{volume_url}/volumes/{vol_id}", "volume")
        v, seen = vol.settle({"creating"})
        assert v["status"] == "available", seen

        r = action(alice, volume_url, vol_id, {"os-attach": {"host_name": "realcloud-smoke", "mountpoint": "/dev/vdb"}})
        assert r.status_code == 202, r.text
        v, seen = vol.settle({"attaching", "available"}, timeout=30)
        assert v["status"] == "in-use", seen
        attachment_id = v["attachments"][0]["attachment_id"]

        r = action(alice, volume_url, vol_id, {"os-extend": {"new_size": 2}}, version="3.41")
        assert r.status_code == 400, r.text
        r = action(alice, volume_url, vol_id, {"os-extend": {"new_size": 2}}, version="3.42")
        assert r.status_code == 202, r.text
        v, seen = vol.settle({"extending"})
        assert (v["status"], v["size"]) == ("in-use", 2), seen
        assert set(seen) <= {"extending", "in-use"}, seen

        if glance_url:
            r = action(alice, volume_url, vol_id, {"os-volume_upload_image": {
                "image_name": name + "-image", "disk_format": "qcow2", "force": True}})
            assert r.status_code == 202, r.text  # needs enable_force_upload = true
            created["image"] = r.json()["os-volume_upload_image"]["image_id"]
            v, seen = vol.settle({"uploading"}, timeout=300)
            assert v["status"] == "in-use", seen

        r = action(alice, volume_url, vol_id, {"os-detach": {"attachment_id": attachment_id}})
        assert r.status_code == 202, r.text
        v, seen = vol.settle({"detaching", "in-use"}, timeout=30)
        assert v["status"] == "available", seen
    finally:
        cleanup(alice, volume_url, created)


def cleanup(sess, volume_url, created):
    if created["image"]:
        try:
            image_url = sess.get_endpoint(service_type="image", interface="public").rstrip("/")
            sess.delete(f"{image_url}/v2/images/{created['image']}", raise_exc=False)
        except Exception:  # noqa: BLE001 - best effort, the volume still has to go
            pass
    for snap_id in created["snapshots"]:
        sess.delete(f"{volume_url}/snapshots/{snap_id}", raise_exc=False)
        Tracker(sess, f"{volume_url}/snapshots/{snap_id}", "snapshot").settle(
            {"deleting", "available", "creating", "restoring"}, timeout=60)
    if created["volume"]:
        vol = Tracker(sess, f"{volume_url}/volumes/{created['volume']}", "volume")
        vol.settle({"creating", "extending", "retyping", "reverting", "uploading"}, timeout=120)
        r = sess.delete(f"{volume_url}/volumes/{created['volume']}", raise_exc=False)
        assert r.status_code in (202, 404), r.text
        v, seen = vol.settle({"deleting", "available"}, timeout=60)
        assert v is None, seen
