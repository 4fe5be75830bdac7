#!/bin/bash
# The openstack CLI's commands for issue 15's actions, run against the cloud the caller's OS_* variables name
# (docs/democloud.md, "The openstack CLI against both clouds"). python-openstackclient lives in a venv of its own:
#   python3 -m venv /tmp/osc-venv && /tmp/osc-venv/bin/pip install python-openstackclient
# It makes one volume (osc-parity) and one snapshot (osc-snap) and deletes both; the output goes to stdout.
O=${OPENSTACK:-/tmp/osc-venv/bin/openstack}
run() { echo "\$ openstack $*"; out=$($O "$@" 2>&1); rc=$?; echo "$out" | tail -12; echo "rc=$rc"; }
vid=$($O volume create --size 1 osc-parity -f value -c id 2>&1 | tail -1)
echo "volume $vid"
for i in $(seq 1 40); do s=$($O volume show $vid -f value -c status 2>/dev/null); [ "$s" = available ] && break; sleep 0.5; done
run volume set --name osc-renamed $vid
run volume set --description "set by the openstack CLI" $vid
run volume set --bootable $vid
run volume set --non-bootable $vid
run volume set --read-only $vid
run volume set --read-write $vid
run volume set --image-property os_distro=debian --image-property hw_disk_bus=scsi $vid
run volume unset --image-property hw_disk_bus $vid
run volume unset --image-property nope $vid
run volume show $vid -f json -c name -c description -c bootable -c volume_image_metadata -c properties
run volume snapshot create --volume $vid osc-snap
for i in $(seq 1 40); do s=$($O volume snapshot show osc-snap -f value -c status 2>/dev/null); [ "$s" = available ] && break; sleep 0.5; done
run volume snapshot show osc-snap -f value -c status
run volume snapshot delete osc-snap
for i in $(seq 1 40); do $O volume snapshot show osc-snap >/dev/null 2>&1 || break; sleep 0.5; done
run volume snapshot show osc-snap
run volume delete $vid
