"""Real Keystone + Cinder (+ Glance) test rig: up.sh / down.sh, smoke test."""
