"""Seed and health checks for the realcloud rig (run with the rig's venv python by up.sh).

    seed.py keystone   projects, users, role assignments, catalog (volumev3, block-storage, image; with Nova also
                       compute, placement and network)
    seed.py cinder     volume types default and gold
    seed.py nova       a public flavor, a public raw boot image in Glance, and an ACTIVE server for alice
    seed.py wait-nova [SECONDS [SINCE]]
                       wait until Nova's API answers and a nova-compute service is up (reported after SINCE)
    seed.py wait [SECONDS [SINCE]]
                       wait until a token issues, Cinder's GET /v3/ answers and a cinder-volume service is up
                       (with SINCE, a UTC epoch: one that reported after SINCE, i.e. not a killed process's row)
    seed.py health     one quick check of the same (exit 0 healthy, 1 not)

Everything is idempotent: it looks before it creates. Admin credentials come from the environment
(REALCLOUD_ADMIN_PASSWORD, default "demo"); URLs from REALCLOUD_{KEYSTONE,CINDER,GLANCE}_URL.
"""

import datetime
import os
import sys
import time

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

KEYSTONE = os.environ.get("REALCLOUD_KEYSTONE_URL", "http://127.0.0.1:5000")
CINDER = os.environ.get("REALCLOUD_CINDER_URL", "http://127.0.0.1:8776")
GLANCE = os.environ.get("REALCLOUD_GLANCE_URL", "")  # empty: no image service
NOVA = os.environ.get("REALCLOUD_NOVA_URL", "")  # empty: no Compute (then no placement and network either)
PLACEMENT = os.environ.get("REALCLOUD_PLACEMENT_URL", "")
NETWORK = os.environ.get("REALCLOUD_NETWORK_URL", "")
FLAVOR = {"id": "realcloud-tiny", "name": "realcloud.tiny", "vcpus": 1, "ram": 64, "disk": 1}
IMAGE_NAME = "realcloud-boot"
SERVER_NAME = "realcloud-server"
COMPUTE_LATEST = {"OpenStack-API-Version": "compute latest"}  # never on a Cinder call: Cinder answers 400
REGION = "RegionOne"
PASSWORD = os.environ.get("REALCLOUD_USER_PASSWORD", "demo")
ADMIN_PASSWORD = os.environ.get("REALCLOUD_ADMIN_PASSWORD", "demo")
SERVICE_PASSWORD = os.environ.get("REALCLOUD_SERVICE_PASSWORD", "realcloud-service")

# user -> [(project, role), ...]; passwords: PASSWORD
USERS = {
    "alice": [("demo", "member")],
    "bob": [("other", "member")],
    "carol": [("demo", "member"), ("other", "member")],  # for project switchers
}
ADMIN_EXTRA = [("demo", "admin")]  # admin is admin of "admin" (bootstrap) and also of "demo"
SERVICE_USERS = ["cinder", "glance"] + (["nova", "placement"] if NOVA else [])


def admin_session(timeout=10):
    auth = v3.Password(auth_url=KEYSTONE + "/v3", username="admin", password=ADMIN_PASSWORD,
                       project_name="admin", user_domain_name="Default", project_domain_name="Default")
    return ks_session.Session(auth=auth, timeout=timeout)


class Keystone:
    def __init__(self, sess):
        self.s = sess
        self.base = KEYSTONE + "/v3"

    def get(self, path, **params):
        return self.s.get(self.base + path, params=params).json()

    def post(self, path, body):
        return self.s.post(self.base + path, json=body).json()

    def find(self, collection, key, **params):
        items = self.get("/" + collection, **params)[collection]
        return items[0] if items else None

    def ensure(self, collection, singular, body, **query):
        found = self.find(collection, singular, **query)
        if found:
            return found
        print(f"  create {singular} {body.get('name', body)}")
        return self.post("/" + collection, {singular: body})[singular]

    def grant(self, project_id, user_id, role_id):
        self.s.put(f"{self.base}/projects/{project_id}/users/{user_id}/roles/{role_id}")


def seed_keystone():
    ks = Keystone(admin_session())
    domain = ks.find("domains", "domain", name="Default")
    dom = domain["id"]
    roles = {}
    for name in ("admin", "member", "reader", "service"):
        roles[name] = ks.ensure("roles", "role", {"name": name}, name=name)["id"]
    projects = {}
    for name in ("admin", "service", "demo", "other"):
        projects[name] = ks.ensure("projects", "project",
                                   {"name": name, "domain_id": dom, "description": f"realcloud {name}"},
                                   name=name, domain_id=dom)["id"]
    for user, grants in USERS.items():
        uid = ks.ensure("users", "user", {"name": user, "domain_id": dom, "password": PASSWORD,
                                          "default_project_id": projects[grants[0][0]]},
                        name=user, domain_id=dom)["id"]
        for project, role in grants:
            ks.grant(projects[project], uid, roles[role])
    admin_id = ks.find("users", "user", name="admin", domain_id=dom)["id"]
    for project, role in ADMIN_EXTRA:
        ks.grant(projects[project], admin_id, roles[role])
    for user in SERVICE_USERS:
        uid = ks.ensure("users", "user", {"name": user, "domain_id": dom, "password": SERVICE_PASSWORD},
                        name=user, domain_id=dom)["id"]
        ks.grant(projects["service"], uid, roles["admin"])
        ks.grant(projects["service"], uid, roles["service"])

    catalog = [("cinderv3", "volumev3", CINDER + "/v3/%(project_id)s"),
               ("block-storage", "block-storage", CINDER + "/v3/%(project_id)s")]
    optional = [("glance", "image", GLANCE), ("nova", "compute", NOVA), ("placement", "placement", PLACEMENT),
                ("neutron", "network", NETWORK)]
    catalog += [entry for entry in optional if entry[2]]
    for _, stype, url in optional:
        if url:
            continue
        for svc in ks.get("/services", type=stype)["services"]:  # rig started without it: out of the catalog
            print(f"  delete service {svc['name']} ({stype})")
            for e in ks.get("/endpoints", service_id=svc["id"])["endpoints"]:
                ks.s.delete(f"{ks.base}/endpoints/{e['id']}")
            ks.s.delete(f"{ks.base}/services/{svc['id']}")
    for name, stype, url in catalog:
        svc = ks.ensure("services", "service", {"name": name, "type": stype, "enabled": True,
                                                "description": f"realcloud {stype}"}, type=stype)
        existing = ks.get("/endpoints", service_id=svc["id"])["endpoints"]
        for interface in ("public", "internal", "admin"):
            mine = [e for e in existing if e["interface"] == interface]
            if mine and mine[0]["url"] == url:
                continue
            for e in mine:
                ks.s.delete(f"{ks.base}/endpoints/{e['id']}")
            print(f"  endpoint {stype} {interface} {url}")
            ks.post("/endpoints", {"endpoint": {"service_id": svc["id"], "interface": interface,
                                                "url": url, "region_id": REGION, "enabled": True}})


def cinder_base(sess):
    project_id = sess.get_project_id()
    return f"{CINDER}/v3/{project_id}"


def seed_cinder():
    sess = admin_session()
    base = cinder_base(sess)
    types = {t["name"]: t for t in sess.get(base + "/types", params={"is_public": "None"}).json()["volume_types"]}
    wanted = {
        "default": ("realcloud default type", {}),
        "gold": ("realcloud gold type", {"volume_backend_name": "fake"}),
    }
    for name, (description, specs) in wanted.items():
        t = types.get(name)
        if not t:
            print(f"  create volume type {name}")
            t = sess.post(base + "/types", json={"volume_type": {
                "name": name, "description": description, "os-volume-type-access:is_public": True}}).json()[
                "volume_type"]
        have = sess.get(f"{base}/types/{t['id']}/extra_specs").json()["extra_specs"]
        if any(have.get(k) != v for k, v in specs.items()):
            sess.post(f"{base}/types/{t['id']}/extra_specs", json={"extra_specs": specs})


def user_session(user, project, timeout=30):
    auth = v3.Password(auth_url=KEYSTONE + "/v3", username=user, password=PASSWORD, project_name=project,
                       user_domain_name="Default", project_domain_name="Default")
    return ks_session.Session(auth=auth, timeout=timeout)


def seed_nova():
    """A flavor, a bootable image and alice's ACTIVE server ("networks": "none": the network stand-in has none)."""
    admin = admin_session(timeout=60)
    flavors = admin.get(f"{NOVA}/flavors", params={"is_public": "None"}).json()["flavors"]
    if not any(f["id"] == FLAVOR["id"] for f in flavors):
        print(f"  create flavor {FLAVOR['name']}")
        admin.post(f"{NOVA}/flavors", json={"flavor": FLAVOR})
    images = admin.get(f"{GLANCE}/v2/images", params={"name": IMAGE_NAME}).json()["images"]
    image = next((i for i in images if i["status"] == "active"), None)
    for stale in (i for i in images if i is not image):
        admin.delete(f"{GLANCE}/v2/images/{stale['id']}", raise_exc=False)
    if image is None:
        print(f"  create image {IMAGE_NAME} (4 KiB raw)")
        image = admin.post(f"{GLANCE}/v2/images", json={"name": IMAGE_NAME, "disk_format": "raw",
                                                        "container_format": "bare",
                                                        "visibility": "public"}).json()
        admin.put(f"{GLANCE}/v2/images/{image['id']}/file", data=b"\0" * 4096,
                  headers={"Content-Type": "application/octet-stream"})
    alice = user_session("alice", "demo")
    servers = alice.get(f"{NOVA}/servers/detail", params={"name": f"^{SERVER_NAME}$"}).json()["servers"]
    for server in servers:
        if server["status"] == "ACTIVE":
            return
        print(f"  delete server {server['id']} ({server['status']})")
        alice.delete(f"{NOVA}/servers/{server['id']}", raise_exc=False)
    print(f"  boot server {SERVER_NAME} for alice")
    server = alice.post(f"{NOVA}/servers", headers=COMPUTE_LATEST, json={"server": {
        "name": SERVER_NAME, "imageRef": image["id"], "flavorRef": FLAVOR["id"], "networks": "none"}}).json()["server"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = alice.get(f"{NOVA}/servers/{server['id']}").json()["server"]["status"]
        if status == "ACTIVE":
            return
        if status == "ERROR":
            raise SystemExit(f"server {server['id']} went to ERROR; see nova-compute.log")
        time.sleep(0.5)
    raise SystemExit(f"server {server['id']} not ACTIVE after 60 s")


def check_nova(since=None):
    """None when Nova's API answers and a nova-compute that reported after `since` is up, else a short reason."""
    try:
        sess = admin_session(timeout=5)
        r = sess.get(f"{NOVA}/os-services", raise_exc=False, params={"binary": "nova-compute"})
        if r.status_code != 200:
            return f"nova GET /os-services answered {r.status_code}"
    except (ks_exc.ClientException, OSError) as e:
        return f"nova: {type(e).__name__}: {e}"
    up = [s for s in r.json()["services"] if s["state"] == "up" and s["status"] == "enabled" and _fresh(s, since)]
    return None if up else "no nova-compute service up yet"


def _fresh(service, since):
    """True when the service reported after `since` (UTC epoch seconds): not a stale row of a killed process."""
    if since is None:
        return True
    stamp = service.get("updated_at")
    if not stamp:
        return False
    when = datetime.datetime.fromisoformat(stamp.split(".")[0]).replace(tzinfo=datetime.timezone.utc)
    return when.timestamp() >= since - 1  # second resolution


def check(verbose=False, since=None, nova=True):
    """Return None when healthy, else a short reason."""
    try:
        sess = admin_session(timeout=5)
        sess.get_token()
    except (ks_exc.ClientException, OSError) as e:
        return f"keystone: {type(e).__name__}: {e}"
    try:
        r = sess.get(CINDER + "/v3/", raise_exc=False, authenticated=True)
        if r.status_code != 200:
            return f"cinder GET /v3/ answered {r.status_code}"
        base = cinder_base(sess)
        svcs = sess.get(base + "/os-services", raise_exc=False).json().get("services", [])
    except (ks_exc.ClientException, OSError) as e:
        return f"cinder: {type(e).__name__}: {e}"
    up = [s for s in svcs if s["binary"] == "cinder-volume" and s["state"] == "up" and s["status"] == "enabled"
          and _fresh(s, since)]
    sched = [s for s in svcs if s["binary"] == "cinder-scheduler" and s["state"] == "up" and _fresh(s, since)]
    if not up:
        return "no cinder-volume service up yet"
    if not sched:
        return "no cinder-scheduler service up yet"
    if GLANCE:
        try:
            r = sess.get(GLANCE + "/v2/images", raise_exc=False, params={"limit": 1})
            if r.status_code != 200:
                return f"glance GET /v2/images answered {r.status_code}"
        except (ks_exc.ClientException, OSError) as e:
            return f"glance: {type(e).__name__}: {e}"
    if NOVA and nova:
        reason = check_nova()
        if reason:
            return reason
    if verbose:
        for s in svcs:
            print(f"  {s['binary']:18} {s['host']:22} {s['state']}")
    return None


def wait(timeout, since=None, probe=None):
    deadline = time.monotonic() + timeout
    reason = None
    while time.monotonic() < deadline:
        reason = probe(since) if probe else check(since=since, nova=False)
        if reason is None:
            check(verbose=True, nova=False)
            return 0
        time.sleep(1)
    print(f"not healthy after {timeout}s: {reason}", file=sys.stderr)
    return 1


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "health"
    if cmd == "keystone":
        seed_keystone()
    elif cmd == "cinder":
        seed_cinder()
    elif cmd == "nova":
        seed_nova()
    elif cmd in ("wait", "wait-nova"):
        since = float(argv[3]) if len(argv) > 3 else None
        return wait(float(argv[2]) if len(argv) > 2 else 120, since, check_nova if cmd == "wait-nova" else None)
    elif cmd == "health":
        reason = check()
        if reason:
            print(reason, file=sys.stderr)
            return 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
