"""Cinder volume driver for the realcloud test rig: Cinder's own fake driver, backed by sparse files.

``cinder.tests.fake_driver.FakeLoggingVolumeDriver`` (shipped in the cinder wheel) answers every driver call
without storing anything, so Cinder's manager, scheduler, quotas and state machine run for real but an upload
to Glance has nothing to read. This subclass gives each volume and snapshot a sparse file under
``<state_path>/sparse-volumes`` so that create / delete / extend / snapshot / revert / clone / upload to image /
create from image all move real bytes, while attach stays Cinder bookkeeping (no export, no iSCSI).

Loaded by cinder-volume as ``volume_driver = realcloud_driver.SparseFileVolumeDriver`` with this folder on
PYTHONPATH (tests/realcloud/up.sh does that).
"""

import os
import subprocess

from cinder.image import image_utils
from cinder.tests import fake_driver
from cinder.volume import volume_utils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

VERSION = "1.0.0"


class SparseFileVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    """FakeLoggingVolumeDriver whose volumes and snapshots are sparse files."""

    VERSION = VERSION

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._dir = os.path.join(CONF.state_path, "sparse-volumes")

    # -- helpers -------------------------------------------------------------------------------------
    def _path(self, obj):
        # volume.name is "volume-<id>", snapshot.name is "snapshot-<id>"
        return os.path.join(self._dir, obj["name"])

    def local_path(self, volume, vg=None):
        return self._path(volume)

    def _resize(self, path, size_gb):
        with open(path, "ab") as f:
            f.truncate(int(size_gb) * units.Gi)

    def _copy(self, src, dst, size_gb=None):
        if not os.path.exists(src):
            # created before this driver backed things with files: start empty
            open(src, "ab").close()
        subprocess.run(["cp", "--sparse=always", "-f", src, dst], check=True)
        if size_gb is not None:
            self._resize(dst, size_gb)

    # -- lifecycle -----------------------------------------------------------------------------------
    def do_setup(self, context):
        super().do_setup(context)
        os.makedirs(self._dir, exist_ok=True)

    def check_for_setup_error(self):
        os.makedirs(self._dir, exist_ok=True)

    def create_volume(self, volume):
        update = super().create_volume(volume)
        os.makedirs(self._dir, exist_ok=True)
        path = self._path(volume)
        open(path, "wb").close()
        self._resize(path, volume["size"])
        return update

    def delete_volume(self, volume):
        self._unlink(self._path(volume))

    def create_snapshot(self, snapshot):
        self._copy(os.path.join(self._dir, snapshot["volume_name"]), self._path(snapshot))

    def delete_snapshot(self, snapshot):
        self._unlink(self._path(snapshot))

    def create_volume_from_snapshot(self, volume, snapshot):
        self._copy(self._path(snapshot), self._path(volume), volume["size"])

    def create_cloned_volume(self, volume, src_vref):
        self._copy(self._path(src_vref), self._path(volume), volume["size"])

    def extend_volume(self, volume, new_size):
        self._resize(self._path(volume), new_size)

    def revert_to_snapshot(self, context, volume, snapshot):
        LOG.info("Reverting %s to %s", volume["name"], snapshot["name"])
        self._copy(self._path(snapshot), self._path(volume), volume["size"])

    def retype(self, context, volume, new_type, diff, host):
        # Same backend, nothing to move: accept the new type in place (as the LVM driver does).
        return True

    # -- images --------------------------------------------------------------------------------------
    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        volume_utils.upload_volume(context, image_service, image_meta, self._path(volume), volume,
                                   run_as_root=False)

    def copy_image_to_volume(self, context, volume, image_service, image_id, disable_sparse=False):
        image_utils.fetch_to_raw(context, image_service, image_id, self._path(volume),
                                 self.configuration.volume_dd_blocksize, size=volume["size"],
                                 run_as_root=False, disable_sparse=disable_sparse)
        self._resize(self._path(volume), volume["size"])  # the fetched image replaced the file: back to size

    # -- stats ---------------------------------------------------------------------------------------
    def _update_volume_stats(self):
        super()._update_volume_stats()
        self._stats["driver_version"] = self.VERSION
        self._stats["vendor_name"] = "volpanel realcloud (sparse files)"
        for pool in self._stats["pools"]:
            pool["reserved_percentage"] = 0
            pool["thin_provisioning_support"] = True

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
