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

import math
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

MEMORY_KEYS = ('memory_total_bytes', 'memory_used_bytes', 'memory_free_bytes')

# Largest memory figure believed for one GPU: 16 TiB. The largest GPUs sold today hold a
# few hundred GiB (Apple Silicon's unified memory at most 512 GB), so a figure above this
# is a misread or a driver fault, not a GPU; it is reported as unknown.
MAX_GPU_MEMORY_BYTES = 16 * 1024 * GIB

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


def decode_output(data):
    """Text of a tool's output; bytes that are not UTF-8 become U+FFFD.

    Output decoded with surrogate escapes (what AnsibleModule.run_command gives by default)
    is turned back into bytes first, so no lone surrogate reaches the result, which the
    controller could not serialize.
    """
    if data is None:
        return u''
    if isinstance(data, bytes):
        return data.decode('utf-8', 'replace')
    try:
        return data.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')
    except (UnicodeError, LookupError):
        return data.encode('utf-8', 'replace').decode('utf-8')


def _bad_bytes(value):
    """Why a byte count cannot be a GPU memory figure, or None when it can."""
    if value < 0:
        return 'which is negative'
    if value > MAX_GPU_MEMORY_BYTES:
        return 'which is above 16 TiB, more than any GPU holds'
    return None


def check_memory(figures, where, labels, warnings):
    """Set to None the figures of ``figures`` (a dict with MEMORY_KEYS) that cannot be true.

    A negative figure or one above MAX_GPU_MEMORY_BYTES is unknown; used or free memory
    above the total leaves every figure unknown, since which one is wrong cannot be told.
    ``labels`` names each key as the source does; one sentence per problem is appended to
    ``warnings``. Returns ``figures``.
    """
    for key in MEMORY_KEYS:
        value = figures.get(key)
        problem = None if value is None else _bad_bytes(value)
        if problem:
            warnings.append('%s: %s reads %d bytes, %s; reported as unknown'
                            % (where, labels[key], value, problem))
            figures[key] = None
    total = figures.get('memory_total_bytes')
    over = [key for key in ('memory_used_bytes', 'memory_free_bytes')
            if total is not None and figures.get(key) is not None and figures[key] > total]
    if over:
        warnings.append('%s: %s above %s %d bytes; its memory is reported as unknown'
                        % (where, ' and '.join('%s %d bytes' % (labels[key], figures[key])
                                               for key in over),
                           labels['memory_total_bytes'], total))
        for key in MEMORY_KEYS:
            figures[key] = None
    return figures


def _nvidia_number(value):
    """Read one nvidia-smi memory field as (marker, MiB).

    ``marker`` is True for the fields nvidia-smi prints when it cannot read a figure
    (``[N/A]``, ``[Not Supported]`` ...); ``MiB`` is the number, None when the text is none.
    """
    text = value.strip()
    if text.lower() in _NVIDIA_UNKNOWN or text.startswith('['):
        return True, None
    try:
        return False, float(re.sub(r'\s*MiB$', '', text, flags=re.IGNORECASE))
    except ValueError:
        return False, None


def _nvidia_figure(value):
    """Read one nvidia-smi memory field (MiB) as bytes.

    Returns (bytes, problem): (None, None) for the fields nvidia-smi prints when it cannot
    read a figure (``[N/A]``, ``[Not Supported]`` ...), (None, why) for text that is no
    possible figure (``nan``, ``inf``, ``1e308``, a negative number, words).
    """
    marker, number = _nvidia_number(value)
    if marker:
        return None, None
    if number is None or math.isnan(number) or math.isinf(number):
        return None, 'is not a number of MiB'
    if number < 0:
        return None, 'is negative'
    if number * MIB > MAX_GPU_MEMORY_BYTES:
        return None, 'is above 16 TiB, more than any GPU holds'
    return int(round(number * MIB)), None


def _is_nvidia_memory_field(value):
    """True when a field has the shape of a memory column: a number or an N/A marker."""
    marker, number = _nvidia_number(value)
    return marker or number is not None


_NVIDIA_LABELS = {'memory_total_bytes': 'memory.total', 'memory_used_bytes': 'memory.used',
                  'memory_free_bytes': 'memory.free'}


def parse_nvidia_smi_csv(text, warnings=None):
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free[,pci.bus_id]
    --format=csv,noheader,nounits``.

    Returns a list of dicts with ``index`` (int), ``name``, ``memory_total_bytes``,
    ``memory_used_bytes``, ``memory_free_bytes`` (None where nvidia-smi printed ``[N/A]``,
    ``[Not Supported]`` or anything else that is not a possible figure) and ``pci_slot``
    (None without the sixth column).

    A row is read from the right, since a name may hold commas: an optional PCI bus id,
    then three memory fields, then the name, after the index. A row that starts with an
    index but does not have that shape gives a GPU with unknown name and memory (and its bus
    id when the last field is one), never figures taken from the wrong columns. Lines that
    do not start with an index are skipped. Each problem (a skipped line, a row of unknown
    shape, an impossible figure) is appended to ``warnings`` when a list is given.
    """
    if warnings is None:
        warnings = []
    gpus = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(',')]
        if not re.match(r'^\d+$', fields[0]):
            warnings.append('nvidia-smi printed a line that is not a GPU row, ignored: %r'
                            % line.strip())
            continue
        index = int(fields[0])
        pci_slot = normalize_pci_slot(fields[-1]) if len(fields) > 1 else None
        body = fields[1:-1] if pci_slot else fields[1:]
        row = {'index': index, 'name': None, 'memory_total_bytes': None,
               'memory_used_bytes': None, 'memory_free_bytes': None, 'pci_slot': pci_slot}
        gpus.append(row)
        if len(body) < 4 or not all(_is_nvidia_memory_field(field) for field in body[-3:]):
            warnings.append('nvidia-smi row %r does not have the columns asked for (%s); '
                            'the name and memory of GPU %d are reported as unknown'
                            % (line.strip(), ', '.join(NVIDIA_SMI_FIELDS), index))
            continue
        row['name'] = ', '.join(body[:-3]) or None
        for key, field in zip(MEMORY_KEYS, body[-3:]):
            value, problem = _nvidia_figure(field)
            if problem:
                warnings.append('nvidia-smi GPU %d: %s %r %s; reported as unknown'
                                % (index, _NVIDIA_LABELS[key], field, problem))
            row[key] = value
        check_memory(row, 'nvidia-smi GPU %d' % index, _NVIDIA_LABELS, warnings)
    return gpus


_ROCM_LINE = re.compile(
    r'^\s*GPU\[(\d+)\]\s*:\s*VRAM Total (Used )?Memory \(B\)\s*:\s*(\d+|N/A)\s*$',
    re.IGNORECASE)


_ROCM_LABELS = {'memory_total_bytes': 'VRAM Total Memory',
                'memory_used_bytes': 'VRAM Total Used Memory',
                'memory_free_bytes': 'free memory'}


def parse_rocm_smi_meminfo(text, warnings=None):
    """Parse ``rocm-smi --showmeminfo vram``.

    Lines look like ``GPU[0]          : VRAM Total Memory (B): 4278190080`` and
    ``GPU[0]          : VRAM Total Used Memory (B): 108814336``. Returns a dict keyed by
    the GPU number with ``memory_total_bytes``, ``memory_used_bytes`` and
    ``memory_free_bytes`` (None where a figure is missing or impossible: above 16 TiB, or
    used above total, each noted in ``warnings`` when a list is given).
    """
    if warnings is None:
        warnings = []
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
    for number in sorted(result):
        entry = check_memory(result[number], 'rocm-smi GPU[%d]' % number, _ROCM_LABELS,
                             warnings)
        total, used = entry['memory_total_bytes'], entry['memory_used_bytes']
        if total is not None and used is not None:
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


_SYSFS_LABELS = {'memory_total_bytes': 'mem_info_vram_total',
                 'memory_used_bytes': 'mem_info_vram_used',
                 'memory_free_bytes': 'free memory'}


def read_amdgpu_vram(device_dir, warnings=None):
    """Read ``mem_info_vram_total`` and ``mem_info_vram_used`` (bytes) from a card's folder.

    Returns (total, used, free); each None when unreadable or impossible (negative, above
    16 TiB, or used above total, each noted in ``warnings`` when a list is given).
    """
    if warnings is None:
        warnings = []
    figures = {
        'memory_total_bytes': _read_int(os.path.join(device_dir, 'mem_info_vram_total')),
        'memory_used_bytes': _read_int(os.path.join(device_dir, 'mem_info_vram_used')),
        'memory_free_bytes': None,
    }
    check_memory(figures, device_dir, _SYSFS_LABELS, warnings)
    total, used = figures['memory_total_bytes'], figures['memory_used_bytes']
    free = None
    if total is not None and used is not None:
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


# Kernel drivers through which Ollama computes on each vendor's GPUs. A card bound to
# another driver (nouveau, radeon, vfio-pci) is not used; one with no driver known may be.
COMPUTE_DRIVERS = {'nvidia': ('nvidia',), 'amd': ('amdgpu',)}


def ollama_may_use(gpu):
    """True for an Apple GPU, and an NVIDIA or AMD GPU not bound to a driver Ollama skips."""
    vendor = gpu.get('vendor')
    if vendor == 'apple':
        return True
    if vendor not in COMPUTE_DRIVERS:
        return False
    driver = gpu.get('driver')
    return driver is None or driver in COMPUTE_DRIVERS[vendor]


def memory_known(gpus):
    """True when every GPU Ollama may use (see ollama_may_use) reports its total memory.

    False means the VRAM sums would leave out a GPU whose memory is unknown.
    """
    return all(gpu.get('memory_total_bytes') is not None for gpu in gpus
               if ollama_may_use(gpu))


def summarize(gpus):
    """Return ``vendors``, ``vram_total_bytes``, ``vram_free_bytes`` and ``accelerator``.

    ``vendors`` holds every vendor seen. ``accelerator`` only counts GPUs Ollama can offload
    to: nvidia, amd or apple; ``mixed`` when NVIDIA and AMD are both present; ``intel`` when
    Intel GPUs are the only ones; ``cpu`` otherwise. VRAM sums add the known figures; both
    are None when the memory of a GPU Ollama may use is unknown (see memory_known), so that
    unknown never reads as 0. ``vram_free_bytes`` is also None when GPUs have memory but
    none reports free memory.
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
    if not memory_known(gpus):
        vram_total = vram_free = None
    elif frees:
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
