"""Seed and health checks for the realcloud rig (run with the rig's venv python by up.sh).

    seed.py keystone   projects, users, role assignments, catalog (volumev3, block-storage, image)
    seed.py cinder     volume types default and gold
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
SERVICE_USERS = ["cinder", "glance"]


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
    if GLANCE:
        catalog.append(("glance", "image", GLANCE))
    if not GLANCE:  # rig started without Glance: no image entry in the catalog
        for svc in ks.get("/services", type="image")["services"]:
            print(f"  delete service {svc['name']} (image)")
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


def _fresh(service, since):
    """True when the service reported after `since` (UTC epoch seconds): not a stale row of a killed process."""
    if since is None:
        return True
    stamp = service.get("updated_at")
    if not stamp:
        return False
    when = datetime.datetime.fromisoformat(stamp.split(".")[0]).replace(tzinfo=datetime.timezone.utc)
    return when.timestamp() >= since - 1  # second resolution


def check(verbose=False, since=None):
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
    if verbose:
        for s in svcs:
            print(f"  {s['binary']:18} {s['host']:22} {s['state']}")
    return None


def wait(timeout, since=None):
    deadline = time.monotonic() + timeout
    reason = None
    while time.monotonic() < deadline:
        reason = check(since=since)
        if reason is None:
            check(verbose=True)
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
    elif cmd == "wait":
        since = float(argv[3]) if len(argv) > 3 else None
        return wait(float(argv[2]) if len(argv) > 2 else 120, since)
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
