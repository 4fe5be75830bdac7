"""One form per action. Each checks what volpanel can know before calling the cloud, in words a tenant
understands; the cloud's own refusals are shown as they come."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from django import forms

from volpanel.audit.models import REPAIRABLE_OUTCOMES, AuditEntry
from volpanel.lib.bidi import isolate
from volpanel.openstack.cinder import Attachment
from volpanel.volumes.rules import (
    DELETABLE_SNAPSHOT,
    RESET_ATTACH_STATUSES,
    RESET_MIGRATION_STATUSES,
    RESET_STATUSES,
    Availability,
)
from volpanel.volumes.selectors import VolumePage

# Cinder's limits: names and mountpoints 1–255 characters; sizes are whole GiB.
MAX_NAME = 255
MAX_SIZE_GIB = 2**31 - 1
DISK_FORMATS = ["qcow2", "raw", "vmdk", "vdi", "vhd", "vhdx", "ploop"]
CONTAINER_FORMATS = ["bare", "ovf", "ova", "docker"]
VISIBILITIES = ["private", "shared", "community", "public"]


# A rendered form's key: 32 hex digits (uuid4().hex).
IDEMPOTENCY_KEY = re.compile(r"^[0-9a-f]{32}$")


# Not printable: C0 and C1 controls (NUL, escape, tab, line breaks, U+0085 next line, U+009B the 8-bit terminal
# escape), the line and paragraph separators U+2028/U+2029, surrogates and unassigned code points. They end up in
# Cinder's database and in every terminal or log that lists the name. U+FFFD too: it is what Django makes of a
# byte that is not UTF-8, so it stands for input that could not be read. Format characters (bidi controls,
# joiners) render as text and stay allowed: the pages isolate them.
NOT_PRINTABLE = frozenset({"Cc", "Zl", "Zp", "Cs", "Cn"})


def printable(what: str) -> Callable[[str], None]:
    message = (f"The {what} can use printable characters only, no control characters such as tabs or line breaks "
               "and no bytes that are not UTF-8.")

    def check(value: str) -> None:
        if any(char == "\ufffd" or unicodedata.category(char) in NOT_PRINTABLE for char in value):
            raise forms.ValidationError(message, code="invalid")

    return check


def text_field(label: str, *, required: str = "", **kwargs: Any) -> forms.CharField:
    """Free text Cinder stores (names, mountpoints, descriptions): at most MAX_NAME characters, printable only.
    `required` is the message for an empty field; without one the field may be left empty."""
    what = label.lower()
    messages = {"max_length": f"The {what} can be at most {MAX_NAME} characters."}
    if required:
        messages["required"] = required
    return forms.CharField(label=label, max_length=MAX_NAME, required=bool(required), validators=[printable(what)],
                           error_messages=messages, **kwargs)


def cinder_printable(text: str) -> bool:
    """Whether Cinder's pattern for a snapshot's description takes the text: characters of Unicode's basic plane
    that are neither "other" (controls, format characters such as direction marks, private use, unassigned) nor
    separators but the space kind (cinder.api.validation.parameter_types)."""
    for c in text:
        category = unicodedata.category(c)
        if ord(c) >= 0xFFFF or category[0] == "C" or (category[0] == "Z" and category != "Zs"):
            return False
    return True


class VolumeActionForm(forms.Form):
    """Base: knows the page it was rendered on and its action's availability there (volumes.actions binds it), so
    it can check the volume's current state."""

    # Minted per rendered form (presenters): the same form posted twice is one action.
    idempotency_key = forms.RegexField(regex=IDEMPOTENCY_KEY, required=False, widget=forms.HiddenInput,
                                       error_messages={"invalid": "This form is damaged; reload the page."})

    def __init__(self, *args: Any, page: VolumePage, action: str, availability: Availability, **kwargs: Any) -> None:
        self.page, self.action_name, self.availability = page, action, availability
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            # Django's defaults ("This field is required.") do not say which field; a tenant must know what to fix.
            if field.widget.is_hidden:
                messages = dict.fromkeys(("required", "invalid_choice", "null_characters_not_allowed"),
                                         "This form is damaged; reload the page.")
            else:
                what = str(field.label).split(" (")[0].lower()
                messages = {"required": f"Fill in the {what}.", "invalid_choice": f"Choose the {what} from the list.",
                            "null_characters_not_allowed": f"The {what} cannot contain NUL characters."}
            defaults: dict[str, Any] = {}
            for klass in reversed(type(field).__mro__):
                defaults.update(getattr(klass, "default_error_messages", {}))
            for code, message in messages.items():
                if field.error_messages.get(code, defaults.get(code)) == defaults.get(code):
                    field.error_messages[code] = message

    def choice_field(self, name: str) -> forms.ChoiceField:
        """One of the form's choice fields, whose choices come from the page (servers, types, snapshots)."""
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.availability.enabled:
            raise forms.ValidationError(self.availability.reason)
        return cleaned


class EditForm(VolumeActionForm):
    # Cinder strips both and accepts up to 255 characters each, an empty name or description included; it lets
    # control characters through (captured), volpanel does not.
    name = text_field("Name")
    description = text_field("Description")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        volume = self.page.volume
        if (cleaned.get("name", ""), cleaned.get("description", "")) == (volume.name or "", volume.description or ""):
            if "name" not in self.errors and "description" not in self.errors:
                raise forms.ValidationError("Change the name or the description first: both are as they are now.")
        return cleaned


class BootableForm(VolumeActionForm):
    bootable = forms.BooleanField(label="Bootable (servers may boot from this volume)", required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("bootable", False) == self.page.volume.bootable and "bootable" not in self.errors:
            state = "bootable" if self.page.volume.bootable else "not bootable"
            raise forms.ValidationError(f"The volume is already {state}: change the box to change it.")
        return cleaned


class ReadonlyForm(VolumeActionForm):
    readonly = forms.BooleanField(label="Read-only (servers and hosts may attach it only to read)", required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("readonly", False) == self.page.volume.readonly and "readonly" not in self.errors:
            state = "read-only" if self.page.volume.readonly else "read/write"
            raise forms.ValidationError(f"The volume is already {state}: change the box to change it.")
        return cleaned


# Cinder's key pattern, ^[a-zA-Z0-9-_:. /]{1,255}$, means letters, digits and "-_:. /"; read literally, "9-_" is
# a range that also lets ";<=>?@[\\]^" through. volpanel takes only what the pattern was written for.
IMAGE_KEY = re.compile(r"[A-Za-z0-9_:. /-]{1,255}")
MAX_IMAGE_VALUE_BYTES = 65535  # Cinder's mysql_text format: the value's UTF-8 bytes


class ImageMetadataForm(VolumeActionForm):
    key = forms.CharField(
        label="Property", max_length=MAX_NAME, help_text="e.g. os_distro or hw_disk_bus",
        error_messages={"required": "Enter the property's name, e.g. os_distro.",
                        "max_length": f"The property's name can be at most {MAX_NAME} characters."})
    value = forms.CharField(label="Value", validators=[printable("value")],
                            error_messages={"required": "Enter the property's value."})

    def clean_key(self) -> str:
        key: str = self.cleaned_data["key"]
        if not IMAGE_KEY.fullmatch(key):
            raise forms.ValidationError("The property's name can use letters A–Z, digits, spaces and - _ : . / "
                                        "only (Cinder refuses other characters).")
        return key

    def clean_value(self) -> str:
        value: str = self.cleaned_data["value"]
        if len(value.encode("utf-8", "surrogatepass")) > MAX_IMAGE_VALUE_BYTES:
            raise forms.ValidationError(f"The value can be at most {MAX_IMAGE_VALUE_BYTES} bytes of UTF-8 "
                                        f"(about {MAX_IMAGE_VALUE_BYTES // 4}–{MAX_IMAGE_VALUE_BYTES} characters).")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        key, value = cleaned.get("key"), cleaned.get("value")
        if key is not None and value is not None and self.page.volume.image_properties.get(key) == value:
            raise forms.ValidationError(f"Image property {key} already has that value.")
        return cleaned


class UnsetImageMetadataForm(VolumeActionForm):
    key = forms.ChoiceField(label="Property", error_messages={
        "required": "Choose the image property to remove.",
        "invalid_choice": "Choose one of this volume's image properties (that property may have been removed "
                          "meanwhile; reload)."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.choice_field("key").choices = [(k, f"{k} = {v[:60]}{'…' if len(v) > 60 else ''}")
                                            for k, v in page.volume.image_metadata]


class ReimageForm(VolumeActionForm):
    image_id = forms.ChoiceField(label="Image", error_messages={
        "required": "Choose the image to write to the volume.",
        "invalid_choice": "Choose one of the images listed (the image may have been removed meanwhile; reload)."})
    confirm = forms.BooleanField(
        label="I understand that everything on the volume is replaced by the image, for good.",
        error_messages={"required": "Tick the box to confirm: reimaging overwrites the whole volume."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.choice_field("image_id").choices = [
            (i.id, f"{i.name or i.id} ({i.disk_format or '?'}, {_gib(i.size)} GiB)") for i in page.project_images]

    def clean_image_id(self) -> str:
        image_id: str = self.cleaned_data["image_id"]
        image = next(i for i in self.page.project_images if i.id == image_id)
        size = self.page.volume.size
        # cinder.volume.volume_utils.check_image_metadata: the image must fit the volume.
        if _gib(image.size) > size:
            raise forms.ValidationError(f"That image needs {_gib(image.size)} GiB; the volume has {size} GiB "
                                        "(extend it first).")
        if image.min_disk > size:
            raise forms.ValidationError(f"That image asks for a disk of at least {image.min_disk} GiB; the volume "
                                        f"has {size} GiB (extend it first).")
        return image_id

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        image = next((i for i in self.page.project_images if i.id == cleaned.get("image_id")), None)
        cleaned["image_name"] = image.name if image else ""  # recorded with the attempt
        return cleaned


def _gib(size: int | None) -> int:
    return ((size or 0) + 2**30 - 1) // 2**30


class SnapshotForm(VolumeActionForm):
    # Cinder strips both and takes up to 255 characters each (captured); its description pattern is stricter than
    # volpanel's printable check (cinder_printable), its name has none (volpanel refuses control characters).
    name = text_field("Name")
    description = text_field("Description")
    force = forms.BooleanField(
        label="Take it while the volume is attached (force)", required=False,
        help_text="The volume is in use: the snapshot holds what is on the disk at this instant, as if the server "
                  "lost power. Writes the server still holds in memory are not in it, and files being written may "
                  "be half-written. For a clean copy, stop the writes (or the server) first.")

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        if page.volume.status != "in-use":
            del self.fields["force"]  # only an attached volume needs it

    def clean_description(self) -> str:
        description: str = self.cleaned_data["description"]
        if not cinder_printable(description):
            raise forms.ValidationError(
                "The description can use printable characters only: Cinder refuses control and formatting "
                "characters (such as direction marks or zero-width spaces) and characters beyond Unicode's basic "
                "plane (such as emoji) in a snapshot's description.")
        return description

    def clean_force(self) -> bool:
        if not self.cleaned_data["force"]:
            raise forms.ValidationError("The volume is attached: tick the box to take the snapshot anyway, "
                                        "knowing it holds only what is on the disk now.")
        return True


class ExtendForm(VolumeActionForm):
    new_size = forms.IntegerField(
        label="New size (GiB)", min_value=1, max_value=MAX_SIZE_GIB,
        error_messages={
            "invalid": "Enter the new size as a whole number of GiB.",
            "required": "Enter the new size in GiB.",
            "min_value": "The new size must be at least 1 GiB.",
            "max_value": f"The new size can be at most {MAX_SIZE_GIB} GiB.",
        },
    )

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        size, limits = page.volume.size, page.limits
        help_text = f"Whole GiB, more than the current {size} GiB."
        if limits and limits.gigabytes_left is not None:
            help_text += (f" Your project has {limits.gigabytes_left} GiB of quota left, so at most "
                          f"{size + limits.gigabytes_left} GiB.")
        self.fields["new_size"].help_text = help_text

    def clean_new_size(self) -> int:
        size = self.cleaned_data["new_size"]
        current = self.page.volume.size
        if size <= current:
            raise forms.ValidationError(f"The new size must be larger than the current {current} GiB.")
        limits = self.page.limits
        if limits and limits.gigabytes_left is not None and size - current > limits.gigabytes_left:
            raise forms.ValidationError(
                f"Extending to {size} GiB needs {size - current} GiB more; your project has "
                f"{limits.gigabytes_left} GiB of quota left."
            )
        return size


class AttachServerForm(VolumeActionForm):
    server_id = forms.ChoiceField(label="Server", error_messages={
        "required": "Choose a server.", "invalid_choice": "Choose one of your project's servers."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.choice_field("server_id").choices = [(s.id, f"{isolate(s.name)} ({s.status})") for s in page.servers]
        if page.servers_problem:
            # No choice can be valid while Nova is silent: say so instead of "choose a server".
            self.fields["server_id"].error_messages.update(required=page.servers_problem,
                                                           invalid_choice=page.servers_problem)


class AttachHostForm(VolumeActionForm):
    host_name = text_field("Host name", required="Enter the host name.")
    mountpoint = text_field("Mountpoint", required="Enter the mountpoint, e.g. /dev/vdb.", initial="/dev/vdb")
    mode = forms.ChoiceField(label="Access mode", choices=[("rw", "Read/write"), ("ro", "Read-only")], initial="rw")

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        if page.volume.readonly:
            self.fields["mode"].initial = "ro"

    def clean_mode(self) -> str:
        mode = self.cleaned_data["mode"]
        if mode == "rw" and self.page.volume.readonly:
            # Cinder refuses it ("Invalid attaching mode 'rw' for volume …", captured).
            raise forms.ValidationError("The volume is read-only: attach it in read-only access mode.")
        return mode


class DetachForm(VolumeActionForm):
    attachment_id = forms.ChoiceField(label="Attachment", error_messages={
        "required": "Choose the attachment to detach.",
        "invalid_choice": "That attachment is not on this volume (any more); reload the page."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        names = page.server_names
        choices = []
        for a in page.volume.attachments:
            where = (f"server {isolate(names.get(a.server_id, a.server_id))}" if a.server_id
                     else f"host {isolate(a.host_name or '(unnamed)')}")
            choices.append((a.attachment_id, f"{where} at {a.device or '?'}"))
        self.choice_field("attachment_id").choices = choices


class RetypeForm(VolumeActionForm):
    new_type = forms.ChoiceField(label="New type", error_messages={
        "required": "Choose the new volume type.", "invalid_choice": "Choose one of the cloud's volume types."})
    migration_policy = forms.ChoiceField(
        label="Migration policy",
        choices=[("never", "Never migrate (fails if the backend cannot change type in place)"),
                 ("on-demand", "Migrate to another backend if needed")],
        initial="never",
    )

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        current = page.volume.volume_type
        self.choice_field("new_type").choices = [(t.name, t.name) for t in page.types if t.name != current]


class UploadForm(VolumeActionForm):
    image_name = text_field("Image name", required="Enter a name for the image.")
    disk_format = forms.ChoiceField(label="Disk format", choices=[(f, f) for f in DISK_FORMATS], initial="qcow2")
    container_format = forms.ChoiceField(label="Container format", choices=[(f, f) for f in CONTAINER_FORMATS],
                                         initial="bare")
    visibility = forms.ChoiceField(label="Visibility", choices=[(v, v) for v in VISIBILITIES], initial="private")
    protected = forms.BooleanField(label="Protected (cannot be deleted until unprotected)", required=False)

    def clean_image_name(self) -> str:
        name = self.cleaned_data["image_name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name for the image.")
        return name


class UploadSnapshotForm(UploadForm):
    snapshot_id = forms.ChoiceField(label="Snapshot", error_messages={
        "required": "Choose the snapshot to upload.", "invalid_choice": "Choose one of this volume's snapshots."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.choice_field("snapshot_id").choices = [
            (s.id, f"{isolate(s.name or s.id)} ({s.created_at[:16].replace('T', ' ')})")
            for s in page.snapshots if s.status == "available"
        ]


class DeleteSnapshotForm(VolumeActionForm):
    snapshot_id = forms.ChoiceField(label="Snapshot", widget=forms.RadioSelect, error_messages={
        "required": "Choose the snapshot to delete.",
        "invalid_choice": "Choose one of this volume's snapshots (it may have been deleted meanwhile; reload)."})
    confirm = forms.BooleanField(
        label="I understand that the snapshot is deleted for good. If it is the latest, Revert to snapshot then goes "
              "to the one before it, or is no longer possible.",
        error_messages={"required": "Tick the box to confirm: a deleted snapshot cannot be brought back."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        latest = page.latest_snapshot
        choices = []
        for s in page.snapshots:
            label = f"{s.name or s.id} ({s.status}, taken {s.created_at[:16].replace('T', ' ')} UTC)"
            if latest is not None and s.id == latest.id:
                label += " — the latest: the snapshot Revert to snapshot would use"
            choices.append((s.id, label))
        self.choice_field("snapshot_id").choices = choices

    def clean_snapshot_id(self) -> str:
        snapshot_id = self.cleaned_data["snapshot_id"]
        snapshot = next(s for s in self.page.snapshots if s.id == snapshot_id)
        if snapshot.status not in DELETABLE_SNAPSHOT:
            raise forms.ValidationError(f"That snapshot is {snapshot.status}: Cinder deletes a snapshot only when "
                                        "it is available or in error.")
        return snapshot_id

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        latest = self.page.latest_snapshot
        # Recorded with the attempt: deleting the latest changes what Revert to snapshot would go to.
        cleaned["was_latest"] = bool(latest and cleaned.get("snapshot_id") == latest.id)
        return cleaned


class RevertForm(VolumeActionForm):
    snapshot_id = forms.CharField(widget=forms.HiddenInput, error_messages={"required": "Choose the snapshot."})
    confirm = forms.BooleanField(
        label="I understand that every change made to the volume after this snapshot is lost.",
        error_messages={"required": "Tick the box to confirm: reverting discards later changes."},
    )

    def clean_snapshot_id(self) -> str:
        snapshot_id = self.cleaned_data["snapshot_id"]
        latest = self.page.latest_snapshot
        if latest is None or snapshot_id != latest.id:
            raise forms.ValidationError("Cinder can only revert to the volume's latest snapshot; "
                                        "that snapshot is not the latest one.")
        return snapshot_id


# --- admin actions (issue 16) ----------------------------------------------------------------------------------
MAX_REASON = 1000


# Where an admin's reason is read (docs/audit.md, "What a tenant sees of a repair").
REASON_SHOWN = ("Kept in the audit trail with your name. The volume's project also sees it in the volume's "
                "History, with the action, its time and outcome, as done by “Cloud administrator” (not your name).")


def reason_field() -> forms.CharField:
    """Every admin action's reason: required, kept in its audit row."""
    return forms.CharField(
        label="Reason", max_length=MAX_REASON, widget=forms.Textarea(attrs={"rows": 2}),
        validators=[printable_multiline("reason")],
        help_text=REASON_SHOWN,
        error_messages={"required": "Say why: the reason goes into the audit trail with your name.",
                        "max_length": f"The reason can be at most {MAX_REASON} characters."})


def printable_multiline(what: str) -> Callable[[str], None]:
    """As `printable`, but line breaks are allowed: a reason is prose for people reading the trail."""
    check = printable(what)

    def check_lines(value: str) -> None:
        check(value.replace("\r\n", " ").replace("\n", " "))

    return check_lines


def _choices(values: tuple[str, ...], keep: str) -> list[tuple[str, str]]:
    return [("", keep), *((v, v) for v in values)]


class AdminActionForm(VolumeActionForm):
    """Every admin action's form: its own fields, then the required reason and the failed attempt it repairs."""

    reason = reason_field()
    # The failed attempt this repairs (its audit row's uuid), when the page was opened from it.
    repairs = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields([k for k in self.fields if k not in ("reason", "repairs")])

    def clean_repairs(self) -> AuditEntry | None:
        found = self.cleaned_data.get("repairs")
        if found is None:
            return None
        entry = AuditEntry.objects.filter(uuid=found, volume_id=self.page.volume.id,
                                          outcome__in=REPAIRABLE_OUTCOMES).first()
        if entry is None:
            raise forms.ValidationError("The attempt this repair was opened from is not a failed attempt on this "
                                        "volume; open the repair again from the audit trail.")
        return entry


class ResetStatusForm(AdminActionForm):
    status = forms.ChoiceField(label="Status", required=False,
                               choices=_choices(RESET_STATUSES, "(leave as it is)"))
    attach_status = forms.ChoiceField(label="Attach status", required=False,
                                      choices=_choices(RESET_ATTACH_STATUSES, "(leave as it is)"))
    migration_status = forms.ChoiceField(label="Migration status", required=False,
                                         choices=_choices(RESET_MIGRATION_STATUSES, "(leave as it is)"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        status = cleaned.get("status")
        if not (status or cleaned.get("attach_status") or cleaned.get("migration_status")):
            self.add_error("status", "Choose a status, an attach status or a migration status to set.")
        if status == "in-use" and not self.page.volume.attachments:
            self.add_error("status", "Cinder resets a volume to in-use only if it has an attachment; this one "
                                     "has none.")
        return cleaned


# cinder.objects.fields.VolumeStatus.ALL: what the all-projects list may filter on.
VOLUME_STATUSES = ("available", "in-use", "error", "error_extending", "error_deleting", "error_restoring",
                   "error_backing-up", "error_managing", "creating", "deleting", "attaching", "detaching",
                   "extending", "retyping", "uploading", "downloading", "reserved", "maintenance", "backing-up",
                   "restoring-backup", "awaiting-transfer", "managing")
PROJECT_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")


class AllVolumesFilter(forms.Form):
    """The all-projects list's filters (GET): Cinder's own filters, checked before Cinder is asked."""

    project = forms.CharField(
        label="Project (name or id)", required=False, max_length=64, validators=[printable("project")],
        widget=forms.TextInput(attrs={"list": "project-names"}),
        error_messages={"max_length": "A project name or id is at most 64 characters."})
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "any"), *((s, s) for s in
                                                                                        VOLUME_STATUSES)],
                               error_messages={"invalid_choice": "Choose the status from the list."})
    name = forms.CharField(
        label="Name or id", required=False, max_length=MAX_NAME, validators=[printable("name")],
        help_text="A name matches exactly; a volume id opens that volume whatever its project.",
        error_messages={"max_length": f"A name is at most {MAX_NAME} characters."})
    stuck = forms.IntegerField(
        label="Unchanged for at least (minutes)", required=False, min_value=1, max_value=60 * 24 * 365,
        help_text="With a transitional status (detaching, extending…): the volumes stuck in it.",
        error_messages={"invalid": "Give the minutes as a whole number.",
                        "min_value": "Give at least 1 minute.", "max_value": "Give at most a year's minutes."})
    marker = forms.UUIDField(required=False, widget=forms.HiddenInput,
                             error_messages={"invalid": "This page's link is damaged; start from the first page."})

    def __init__(self, *args: Any, projects: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.projects = projects or {}  # id → name, as Keystone lists them ({} if it did not answer)

    def clean_project(self) -> str:
        """A project's name or id → its id. A name Keystone does not list is refused; so is anything but a
        hexadecimal id when Keystone gave no names."""
        given = str(self.cleaned_data.get("project") or "").strip()
        if not given or given in self.projects:
            return given
        ids = [pid for pid, name in self.projects.items() if name == given]
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            raise forms.ValidationError("Several projects (in different domains) have this name: give its id.")
        if PROJECT_ID.match(given):
            return given
        if self.projects:
            raise forms.ValidationError("No project has this name; choose one from the list, or give an id.")
        raise forms.ValidationError("Project names are not available now (Keystone did not list them): give the "
                                    "project's id, hexadecimal as Keystone shows it, e.g. 5c531a83…")


class ForceDetachForm(AdminActionForm):
    attachment_id = forms.ChoiceField(label="Attachment", widget=forms.RadioSelect, error_messages={
        "required": "Choose the attachment to detach.",
        "invalid_choice": "Choose one of this volume's attachments (it may have been detached meanwhile; reload)."})

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.choice_field("attachment_id").choices = [
            (a.attachment_id, f"{_attached_to(a)} at {a.device or '?'} ({a.attachment_id})")
            for a in page.volume.attachments]


def _attached_to(a: Attachment) -> str:
    # Real Cinder reports host_name null for os-attach attachments (captures 14, 21).
    return f"server {a.server_id}" if a.server_id else (f"host {a.host_name}" if a.host_name else "a host")


class ForceDeleteForm(AdminActionForm):
    confirm_name = forms.CharField(
        label="Type the volume's name to confirm", max_length=MAX_NAME,
        error_messages={"required": "Type the volume's name: a deleted volume and its data cannot be brought back."})

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"]
        expected = self.page.volume.name or self.page.volume.id
        if typed != expected:
            raise forms.ValidationError(f"That is not the volume's name; type {expected} exactly to delete it.")
        return typed


class MigrateForm(AdminActionForm):
    host = forms.ChoiceField(label="Destination pool", error_messages={
        "required": "Choose the pool to migrate to.",
        "invalid_choice": "Choose one of the scheduler's other pools (the list may have changed; reload)."})
    force_host_copy = forms.BooleanField(
        label="Copy through the host (force_host_copy), not the back end's own migration", required=False)
    lock_volume = forms.BooleanField(
        label="Lock the volume (maintenance) while it migrates, if it is available", required=False)

    def __init__(self, *args: Any, page: VolumePage, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.choice_field("host").choices = [(p, p) for p in page.pools if p != page.volume.host]
