"""The embedded demo cloud: Keystone, Cinder, Nova and Glance over real HTTP, stdlib only (see docs/democloud.md)."""
