# -*- coding: utf-8 -*-
# Copyright: localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU discovery helpers for localllm.workstation.gpu_info.

Parsers are pure functions over text; the sysfs readers only read files under a root
folder that callers pass in, so tests can point them at a fake tree.
Standard library only: this code runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat

MIB = 1024 * 1024
GIB = 1024 * MIB

# PCI vendor ids (lower case hex, no 0x) of the GPU makers Ollama can use.
PCI_VENDORS = {
    '10de': 'nvidia',
    '1002': 'amd',
    '8086': 'intel',
}

# Values nvidia-smi prints for a field it cannot read. Older drivers print
# "[Not Supported]", newer ones "[N/A]" (e.g. memory on NVIDIA GB10 / DGX Spark).
_NVIDIA_UNKNOWN = ('', 'n/a', '[n/a]', '[not supported]', 'not supported', '[unknown error]',
                   '[insufficient permissions]', '[gpu is lost]')

NVIDIA_SMI_FIELDS = ('index', 'name', 'memory.total', 'memory.used', 'memory.free', 'pci.bus_id')

# Metal's default working-set budget, observed (not documented by Apple): about two
# thirds of RAM up to 36 GB, about three quarters above (FIELD_NOTES section 4).
METAL_SMALL_RAM_LIMIT = 36 * GIB


def normalize_pci_id(text):
    """Return a PCI vendor or device id as four lower-case hex digits, or None.

    sysfs writes "0x10de\\n"; the result is "10de".
    """
    if text is None:
        return None
    value = text.strip().lower()
    if value.startswith('0x'):
        value = value[2:]
    if not value or not re.match(r'^[0-9a-f]+$', value):
        return None
    return '%04x' % int(value, 16)


def is_display_class(text):
    """True when a sysfs PCI class value ("0x030000") is a display controller (0x03xxxx)."""
    if text is None:
        return False
    value = text.strip().lower()
    if value.startswith('0x'):
        value = value[2:]
    if not value or not re.match(r'^[0-9a-f]+$', value):
        return False
    return (int(value, 16) >> 16) == 0x03


def vendor_name(pci_vendor_id):
    """Map a PCI vendor id to nvidia, amd, intel or unknown."""
    return PCI_VENDORS.get(pci_vendor_id, 'unknown')


def normalize_pci_slot(text):
    """Return a PCI address as sysfs spells it ("0000:01:00.0"), or None.

    nvidia-smi prints an eight-digit domain ("00000000:01:00.0"); sysfs uses four.
    """
    if not text:
        return None
    match = re.match(r'^\s*([0-9a-fA-F]+):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])\s*$',
                     text)
    if not match:
        return None
    domain, bus, dev, func = match.groups()
    return '%04x:%02x:%02x.%s' % (int(domain, 16), int(bus, 16), int(dev, 16), func)


def _nvidia_mib(value):
    """Convert one nvidia-smi memory field (MiB) to bytes; None when it is not a number."""
    text = value.strip()
    if text.lower() in _NVIDIA_UNKNOWN or text.startswith('['):
        return None
    text = re.sub(r'\s*MiB$', '', text, flags=re.IGNORECASE)
    try:
        number = float(text)
    except ValueError:
        return None
    if number < 0:
        return None
    return int(round(number * MIB))


def parse_nvidia_smi_csv(text):
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free[,pci.bus_id]
    --format=csv,noheader,nounits``.

    Returns a list of dicts with ``index`` (int), ``name``, ``memory_total_bytes``,
    ``memory_used_bytes``, ``memory_free_bytes`` (None where nvidia-smi printed ``[N/A]``,
    ``[Not Supported]`` or anything else that is not a number) and ``pci_slot`` (None
    without the sixth column). Lines that do not have the expected columns are skipped.
    """
    gpus = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(',')]
        if len(fields) < 5:
            continue
        pci_slot = None
        if len(fields) >= 6 and normalize_pci_slot(fields[-1]):
            pci_slot = normalize_pci_slot(fields[-1])
            fields = fields[:-1]
        # A name holding a comma would arrive split; put it back together.
        index_text = fields[0]
        memory = fields[-3:]
        name = ', '.join(fields[1:-3])
        try:
            index = int(index_text)
        except ValueError:
            continue
        gpus.append({
            'index': index,
            'name': name or None,
            'memory_total_bytes': _nvidia_mib(memory[0]),
            'memory_used_bytes': _nvidia_mib(memory[1]),
            'memory_free_bytes': _nvidia_mib(memory[2]),
            'pci_slot': pci_slot,
        })
    return gpus


_ROCM_LINE = re.compile(
    r'^\s*GPU\[(\d+)\]\s*:\s*VRAM Total (Used )?Memory \(B\)\s*:\s*(\d+|N/A)\s*$',
    re.IGNORECASE)


def parse_rocm_smi_meminfo(text):
    """Parse ``rocm-smi --showmeminfo vram``.

    Lines look like ``GPU[0]          : VRAM Total Memory (B): 4278190080`` and
    ``GPU[0]          : VRAM Total Used Memory (B): 108814336``. Returns a dict keyed by
    the GPU number with ``memory_total_bytes``, ``memory_used_bytes`` and
    ``memory_free_bytes`` (None where a figure is missing).
    """
    result = {}
    for line in (text or '').splitlines():
        match = _ROCM_LINE.match(line)
        if not match:
            continue
        number = int(match.group(1))
        value = match.group(3)
        entry = result.setdefault(number, {'memory_total_bytes': None,
                                           'memory_used_bytes': None,
                                           'memory_free_bytes': None})
        figure = int(value) if value.isdigit() else None
        if match.group(2):
            entry['memory_used_bytes'] = figure
        else:
            entry['memory_total_bytes'] = figure
    for entry in result.values():
        total, used = entry['memory_total_bytes'], entry['memory_used_bytes']
        if total is not None and used is not None and used <= total:
            entry['memory_free_bytes'] = total - used
    return result


def metal_budget_bytes(ram_bytes, wired_limit_mb=0):
    """Return the memory Metal lets the GPU use on Apple Silicon.

    ``iogpu.wired_limit_mb`` above zero replaces the default rule; zero means the default:
    two thirds of RAM on machines with up to 36 GB, three quarters above (FIELD_NOTES 4,
    observed behaviour, not an Apple-documented figure).
    """
    if ram_bytes is None or ram_bytes <= 0:
        return None
    if wired_limit_mb and wired_limit_mb > 0:
        return int(wired_limit_mb) * MIB
    if ram_bytes <= METAL_SMALL_RAM_LIMIT:
        return ram_bytes * 2 // 3
    return ram_bytes * 3 // 4


def read_text(path):
    """Content of a small text file without surrounding space, or None if unreadable."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError, UnicodeDecodeError):
        return None


def _read_int(path):
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _link_name(path):
    """Last part of the target of a symbolic link (a driver's name), or None."""
    try:
        return os.path.basename(os.readlink(path).rstrip('/'))
    except (IOError, OSError):
        return None


def scan_pci_display_devices(sysfs_root):
    """List display controllers (PCI class 0x03xxxx) under ``<sysfs_root>/bus/pci/devices``.

    Each entry: ``pci_slot``, ``pci_vendor_id``, ``pci_device_id``, ``vendor``, ``driver``
    (None when no driver is bound) and ``path``. Sorted by PCI address.
    """
    base = os.path.join(sysfs_root, 'bus', 'pci', 'devices')
    try:
        slots = sorted(os.listdir(base))
    except (IOError, OSError):
        return []
    devices = []
    for slot in slots:
        path = os.path.join(base, slot)
        if not is_display_class(read_text(os.path.join(path, 'class'))):
            continue
        vendor_id = normalize_pci_id(read_text(os.path.join(path, 'vendor')))
        devices.append({
            'pci_slot': slot,
            'pci_vendor_id': vendor_id,
            'pci_device_id': normalize_pci_id(read_text(os.path.join(path, 'device'))),
            'vendor': vendor_name(vendor_id),
            'driver': _link_name(os.path.join(path, 'driver')),
            'path': path,
        })
    return devices


def scan_drm_cards(sysfs_root):
    """Map PCI address to the ``device`` folder of each ``<sysfs_root>/class/drm/card*``.

    Connector entries such as ``card0-DP-1`` are skipped.
    """
    base = os.path.join(sysfs_root, 'class', 'drm')
    try:
        names = sorted(os.listdir(base))
    except (IOError, OSError):
        return {}
    cards = {}
    for name in names:
        if not re.match(r'^card\d+$', name):
            continue
        device = os.path.join(base, name, 'device')
        if not os.path.isdir(device):
            continue
        slot = os.path.basename(os.path.realpath(device))
        cards.setdefault(slot, device)
    return cards


def read_amdgpu_vram(device_dir):
    """Read ``mem_info_vram_total`` and ``mem_info_vram_used`` (bytes) from a card's folder.

    Returns (total, used, free); each None when unreadable.
    """
    total = _read_int(os.path.join(device_dir, 'mem_info_vram_total'))
    used = _read_int(os.path.join(device_dir, 'mem_info_vram_used'))
    free = None
    if total is not None and used is not None and used <= total:
        free = total - used
    return total, used, free


def user_groups(user, pwd_module, grp_module):
    """Return (uid, {gid: group name}) for a user from pwd/grp, or (None, None) if unknown.

    The modules are passed in so tests can give stand-ins.
    """
    try:
        entry = pwd_module.getpwnam(user)
    except KeyError:
        return None, None
    groups = {}
    try:
        groups[entry.pw_gid] = grp_module.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        groups[entry.pw_gid] = str(entry.pw_gid)
    for group in grp_module.getgrall():
        if user in group.gr_mem:
            groups[group.gr_gid] = group.gr_name
    return entry.pw_uid, groups


def access_problem(user, uid, groups, path, mode, owner_uid, owner_gid, group_name):
    """Say why ``user`` cannot open a device for reading and writing, or None if it can.

    Decided from the mode bits the way the kernel does: owner bits for the owner, group bits
    for members of the owning group, other bits for everyone else; root passes.
    """
    if uid == 0:
        return None
    rw_user = stat.S_IRUSR | stat.S_IWUSR
    rw_group = stat.S_IRGRP | stat.S_IWGRP
    rw_other = stat.S_IROTH | stat.S_IWOTH
    perms = '%04o' % stat.S_IMODE(mode)
    if uid == owner_uid:
        if mode & rw_user == rw_user:
            return None
        return '%s (mode %s) does not give its owner %s read and write access' % (
            path, perms, user)
    if owner_gid in groups:
        if mode & rw_group == rw_group:
            return None
        return '%s (mode %s) does not give group %s read and write access' % (
            path, perms, group_name)
    if mode & rw_other == rw_other:
        return None
    if mode & rw_group == rw_group:
        return 'user %s is not in group %s which owns %s' % (user, group_name, path)
    return '%s (mode %s, group %s) gives user %s no read and write access' % (
        path, perms, group_name, user)


def check_device_access(user, device_paths, pwd_module, grp_module, required=()):
    """Check whether ``user`` may open each of ``device_paths`` read-write.

    ``required`` names paths that must exist (e.g. /dev/kfd when an amdgpu card is present);
    a missing one is a problem. Returns a dict with ``user``, ``user_exists``, ``ok``,
    ``devices`` (the paths checked) and ``problems`` (sentences).
    """
    result = {'user': user, 'user_exists': False, 'ok': False, 'devices': [], 'problems': []}
    uid, groups = user_groups(user, pwd_module, grp_module)
    if uid is None:
        result['problems'].append('user %s does not exist on this host' % user)
        return result
    result['user_exists'] = True
    for path in required:
        if not os.path.exists(path):
            result['problems'].append(
                '%s does not exist: the amdgpu kernel driver is not loaded or too old' % path)
    for path in device_paths:
        try:
            info = os.stat(path)
        except (IOError, OSError):
            continue
        result['devices'].append(path)
        try:
            group_name = grp_module.getgrgid(info.st_gid).gr_name
        except KeyError:
            group_name = str(info.st_gid)
        problem = access_problem(user, uid, groups, path, info.st_mode, info.st_uid,
                                 info.st_gid, group_name)
        if problem:
            result['problems'].append(problem)
    result['ok'] = not result['problems']
    return result


def summarize(gpus):
    """Return ``vendors``, ``vram_total_bytes``, ``vram_free_bytes`` and ``accelerator``.

    ``vendors`` holds every vendor seen. ``accelerator`` only counts GPUs Ollama can offload
    to: nvidia, amd or apple; ``mixed`` when NVIDIA and AMD are both present; ``intel`` when
    Intel GPUs are the only ones; ``cpu`` otherwise. VRAM sums skip GPUs whose figure is
    unknown; ``vram_free_bytes`` is None when GPUs have memory but none reports free memory.
    """
    vendors = sorted(set(gpu['vendor'] for gpu in gpus))
    compute = sorted(set(gpu['vendor'] for gpu in gpus) & set(('nvidia', 'amd', 'apple')))
    if len(compute) > 1:
        accelerator = 'mixed'
    elif compute:
        accelerator = compute[0]
    elif 'intel' in vendors:
        accelerator = 'intel'
    else:
        accelerator = 'cpu'
    totals = [gpu['memory_total_bytes'] for gpu in gpus if gpu['memory_total_bytes'] is not None]
    frees = [gpu['memory_free_bytes'] for gpu in gpus if gpu['memory_free_bytes'] is not None]
    vram_total = sum(totals)
    if frees:
        vram_free = sum(frees)
    elif totals:
        vram_free = None
    else:
        vram_free = 0
    return {
        'vendors': vendors,
        'vram_total_bytes': vram_total,
        'vram_free_bytes': vram_free,
        'accelerator': accelerator,
    }
