"""Cinder's request-body schemas and the subset of JSON-Schema (draft 4) needed to reject bodies exactly as
cinder-api does, including jsonschema's wording and its "best match" choice among several errors."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from .web import HttpError, os_fault

_BOOLEAN_ENUM: list[Any] = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
                            False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"]
BOOLEAN = {"type": ["boolean", "string"], "enum": _BOOLEAN_ENUM}
UUID = {"type": "string", "format": "uuid"}
UUID_OR_NULL = {"type": ["string", "null"], "format": "uuid"}
VOLUME_SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": 2147483647}
DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}


def _printable_ranges() -> str:
    """cinder.api.validation.parameter_types' character class of printable characters, built the same way: the
    BMP's characters that are neither "other" (C*) nor a separator other than a space (Z* but Zs), as ranges."""
    def printable(c: str) -> bool:
        category = unicodedata.category(c)
        return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")

    regex, in_range, last, last_added = "", False, "", ""
    for c in map(chr, range(0xFFFF)):
        if printable(c):
            if not in_range:
                regex += re.escape(c)
                last_added = c
            in_range = True
        else:
            if in_range and last != last_added:
                regex += "-" + re.escape(last)
            in_range = False
        last = c
    if in_range:
        regex += "-" + re.escape(last)
    return regex


# A snapshot's description (not a volume's, whose schema uses a format instead): printable characters only.
PRINTABLE_DESCRIPTION = {**DESCRIPTION, "pattern": f"^[{_printable_ranges()}]*$"}
DISK_FORMATS = ["raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"]
TRUE_STRINGS = {"true", "1", "on", "yes", "y", "t"}


def action_schema(name: str, properties: dict[str, Any], required: list[str] | None = None,
                  extra: dict[str, Any] | None = None, body_type: Any = "object") -> dict[str, Any]:
    inner: dict[str, Any] = {"type": body_type, "properties": properties}
    if required:
        inner["required"] = required
    inner.update(extra or {})
    inner["additionalProperties"] = False
    return {"type": "object", "properties": {name: inner}, "required": [name], "additionalProperties": False}


EXTEND = action_schema("os-extend", {"new_size": VOLUME_SIZE}, ["new_size"])
ATTACH = action_schema("os-attach", {
    "instance_uuid": UUID,
    "mountpoint": {"type": "string", "minLength": 1, "maxLength": 255},
    "host_name": {"type": "string", "maxLength": 255},
    "mode": {"type": "string", "enum": ["rw", "ro"]},
}, ["mountpoint"], {"anyOf": [{"required": ["instance_uuid"]}, {"required": ["host_name"]}]})
DETACH = action_schema("os-detach", {"attachment_id": UUID_OR_NULL}, body_type=["object", "null"])
RETYPE = action_schema("os-retype", {
    "new_type": {"type": "string"},
    "migration_policy": {"type": ["string", "null"], "enum": ["on-demand", "never"]},
}, ["new_type"])
_UPLOAD_PROPS = {"image_name": {"type": "string", "minLength": 1, "maxLength": 255}, "force": BOOLEAN,
                 "disk_format": {"type": "string", "enum": DISK_FORMATS}, "container_format": DESCRIPTION}
_UPLOAD_PROPS_31 = {**_UPLOAD_PROPS, "visibility": {"type": "string",
                                                    "enum": ["community", "public", "private", "shared"]},
                    "protected": BOOLEAN}


def upload_schema(v31: bool, snapshot_upload: bool) -> dict[str, Any]:
    """Upstream schema, plus `snapshot_id` where the Virtuozzo upload-from-snapshot extension is on."""
    props = dict(_UPLOAD_PROPS_31 if v31 else _UPLOAD_PROPS)
    if snapshot_upload:
        props["snapshot_id"] = UUID
    return action_schema("os-volume_upload_image", props, ["image_name"])


# cinder.api.schemas.admin_actions.reset_status_volume: the values are checked by format checkers afterwards
# (cinder.api.validation.validators), whose words the demo cloud's handler repeats.
_NULLABLE_STRING = {"type": ["string", "null"]}
RESET_STATUS = action_schema("os-reset_status", {
    "status": _NULLABLE_STRING, "attach_status": _NULLABLE_STRING, "migration_status": _NULLABLE_STRING})
# cinder.objects.fields: VolumeStatus.ALL and VolumeMigrationStatus.ALL, in their order (the 400 lists them).
VOLUME_STATUSES = ("creating", "available", "deleting", "error", "error_deleting", "error_managing", "managing",
                   "attaching", "in-use", "detaching", "maintenance", "restoring-backup", "error_restoring",
                   "reserved", "awaiting-transfer", "backing-up", "error_backing-up", "error_extending",
                   "downloading", "uploading", "retyping", "extending")
MIGRATION_STATUSES = ("migrating", "error", "success", "completing", "none", "starting")
SNAPSHOT_CREATE = {"type": "object", "properties": {"snapshot": {
    "type": "object",
    "properties": {"name": DESCRIPTION, "display_name": DESCRIPTION, "description": PRINTABLE_DESCRIPTION,
                   "volume_id": UUID, "force": BOOLEAN, "metadata": {"type": ["object", "null"]}},
    "required": ["volume_id"], "additionalProperties": False}}, "required": ["snapshot"],
    "additionalProperties": False}
VOLUME_CREATE = {"type": "object", "properties": {"volume": {
    "type": "object",
    "properties": {"name": DESCRIPTION, "display_name": DESCRIPTION, "description": DESCRIPTION,
                   "size": {"type": ["integer", "string", "null"], "pattern": "^[0-9]+$", "minimum": 1},
                   "volume_type": {"type": ["string", "null"]}, "availability_zone": DESCRIPTION,
                   "metadata": {"type": ["object", "null"]}, "snapshot_id": UUID_OR_NULL,
                   "source_volid": UUID_OR_NULL, "imageRef": {"type": ["string", "null"]},
                   "multiattach": BOOLEAN, "consistencygroup_id": UUID_OR_NULL, "group_id": UUID_OR_NULL,
                   "backup_id": UUID_OR_NULL, "scheduler_hints": {"type": ["object", "null"]}},
    "additionalProperties": False}}, "required": ["volume"], "additionalProperties": False}

# PUT /volumes/{id}: names and descriptions are checked for length after stripping (below, as cinder-api's
# format checkers do), so the schema itself only types them; from 3.53 at least one field must be given.
NAME_OR_NULL = {"type": ["string", "null"]}
_UPDATE_FIELDS = {"name": NAME_OR_NULL, "description": NAME_OR_NULL, "display_name": NAME_OR_NULL,
                  "display_description": NAME_OR_NULL, "metadata": {"type": "object"}}
VOLUME_UPDATE = {"type": "object", "properties": {"volume": {
    "type": "object", "properties": _UPDATE_FIELDS, "additionalProperties": False}},
    "required": ["volume"], "additionalProperties": False}
VOLUME_UPDATE_353 = {"type": "object", "properties": {"volume": {
    "type": "object", "properties": _UPDATE_FIELDS, "additionalProperties": False,
    "anyOf": [{"required": [name]} for name in _UPDATE_FIELDS]}},
    "required": ["volume"], "additionalProperties": False}

# cinder.api.schemas.volume_image_metadata: keys of a restricted alphabet, values up to 64 KiB of UTF-8.
IMAGE_METADATA = {"type": "object", "patternProperties": {
    "^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "format": "mysql_text"}}, "additionalProperties": False}
SET_IMAGE_METADATA = action_schema("os-set_image_metadata", {"metadata": IMAGE_METADATA}, ["metadata"])
UNSET_IMAGE_METADATA = action_schema("os-unset_image_metadata", {
    "key": {"type": "string", "minLength": 1, "maxLength": 255}}, ["key"])
REIMAGE = action_schema("os-reimage", {"image_id": UUID, "reimage_reserved": BOOLEAN}, ["image_id"])

_WEAK = {"anyOf", "oneOf"}


@dataclass
class SchemaError:
    path: list[str]
    validator: str
    message: str
    instance: Any
    context: list[SchemaError]


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "integer":  # draft 4: 5.0 is not an integer, and neither is True
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _strict_equal(a: Any, b: Any) -> bool:
    """jsonschema compares enum members without letting True equal 1."""
    return type(a) is type(b) and a == b


def is_uuid_like(value: str) -> bool:
    """oslo's is_uuid_like: dashes and case do not matter."""
    try:
        return str(uuid.UUID(value)).replace("-", "") == value.lower().replace("-", "")
    except (TypeError, ValueError, AttributeError):
        return False


def iter_errors(instance: Any, schema: dict[str, Any], path: list[str]) -> list[SchemaError]:
    errors: list[SchemaError] = []

    def err(validator: str, message: str, context: list[SchemaError] | None = None) -> None:
        errors.append(SchemaError(list(path), validator, message, instance, context or []))

    for keyword, value in schema.items():
        if keyword == "type":
            types = value if isinstance(value, list) else [value]
            if not any(_is_type(instance, t) for t in types):
                err("type", f"{instance!r} is not of type {', '.join(repr(t) for t in types)}")
        elif keyword == "properties" and isinstance(instance, dict):
            for prop, subschema in value.items():
                if prop in instance:
                    errors.extend(iter_errors(instance[prop], subschema, [*path, prop]))
        elif keyword == "required" and isinstance(instance, dict):
            for prop in value:
                if prop not in instance:
                    err("required", f"{prop!r} is a required property")
        elif keyword == "anyOf":
            contexts = [iter_errors(instance, sub, path) for sub in value]
            if all(contexts):
                err("anyOf", f"{instance!r} is not valid under any of the given schemas",
                    [e for ctx in contexts for e in ctx])
        elif keyword == "patternProperties" and isinstance(instance, dict):
            for prop in instance:
                for pattern, subschema in value.items():
                    if re.search(pattern, prop):
                        errors.extend(iter_errors(instance[prop], subschema, [*path, prop]))
        elif keyword == "additionalProperties" and value is False and isinstance(instance, dict):
            patterns = schema.get("patternProperties", {})
            extras = sorted((k for k in instance if k not in schema.get("properties", {})
                             and not any(re.search(p, k) for p in patterns)), key=str)
            if extras and patterns:  # jsonschema's wording when patterns could have matched
                verb = "does" if len(extras) == 1 else "do"
                err("additionalProperties", f"{', '.join(repr(e) for e in extras)} {verb} not match any of the "
                                            f"regexes: {', '.join(repr(p) for p in sorted(patterns))}")
            elif extras:
                verb = "was" if len(extras) == 1 else "were"
                listed = ", ".join(repr(e) for e in extras)
                err("additionalProperties", f"Additional properties are not allowed ({listed} {verb} unexpected)")
        elif keyword == "enum":
            if not any(_strict_equal(instance, member) for member in value):
                err("enum", f"{instance!r} is not one of {value!r}")
        elif keyword == "pattern" and isinstance(instance, str):
            if not re.search(value, instance):
                err("pattern", f"{instance!r} does not match {value!r}")
        elif keyword == "minimum" and _is_type(instance, "number"):
            if instance < value:
                err("minimum", f"{instance!r} is less than the minimum of {value!r}")
        elif keyword == "maximum" and _is_type(instance, "number"):
            if instance > value:
                err("maximum", f"{instance!r} is greater than the maximum of {value!r}")
        elif keyword == "minLength" and isinstance(instance, str):
            if len(instance) < value:
                err("minLength", f"{instance!r} " + ("should be non-empty" if value == 1 else "is too short"))
        elif keyword == "maxLength" and isinstance(instance, str):
            if len(instance) > value:
                err("maxLength", f"{instance!r} " + ("is expected to be empty" if value == 0 else "is too long"))
        elif keyword == "format" and value == "uuid" and isinstance(instance, str):
            if not is_uuid_like(instance):
                err("format", f"{instance!r} is not a 'uuid'")
        elif keyword == "format" and value == "mysql_text" and isinstance(instance, str):
            if len(instance.encode("utf-8", "surrogatepass")) > 65535:
                err("format", f"{instance!r} is not a 'mysql_text'")
    return errors


def _relevance(error: SchemaError) -> tuple[int, bool]:
    return (-len(error.path), error.validator not in _WEAK)


def best_match(errors: list[SchemaError]) -> SchemaError | None:
    """jsonschema.exceptions.best_match: the shallowest, non-weak error; descend into anyOf only if decisive."""
    if not errors:
        return None
    best = max(errors, key=_relevance)  # max keeps the first of equals, as jsonschema does
    while best.context:
        ranked = sorted(best.context, key=_relevance)
        if len(ranked) >= 2 and _relevance(ranked[0]) == _relevance(ranked[1]):
            return best
        best = ranked[0]
    return best


def validate(body: Any, schema: dict[str, Any]) -> None:
    """Raise Cinder's 400 for the best-matching schema error, worded like cinder.api.validation."""
    error = best_match(iter_errors(body, schema, []))
    if error is None:
        return
    if error.path:
        detail = (f"Invalid input for field/attribute {error.path[-1]}. "
                  f"Value: {error.instance}. {error.message}")
    else:
        detail = error.message
    raise HttpError(os_fault(400, detail))


def as_bool(value: Any) -> bool:
    """oslo strutils.bool_from_string for values that already passed the BOOLEAN schema."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_STRINGS
