#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: gpu_info
short_description: Find the GPUs of a host, their memory and whether Ollama's user may use them
version_added: "0.1.0"
description:
  - Lists display controllers (PCI class C(0x03xxxx)) from sysfs without vendor tools and names
    their vendor from the PCI vendor id (NVIDIA C(10de), AMD C(1002), Intel C(8086)); other
    vendors are reported as C(unknown) with their ids.
  - Reads NVIDIA memory from C(nvidia-smi), AMD memory from
    C(/sys/class/drm/card*/device/mem_info_vram_total) and C(mem_info_vram_used) for cards
    bound to C(amdgpu), with C(rocm-smi --showmeminfo vram) as fallback and cross-check.
  - On Apple Silicon (macOS on arm64) reports one C(apple) GPU whose memory is the Metal
    budget worked out from C(sysctl hw.memsize) and C(iogpu.wired_limit_mb).
  - Checks whether the Ollama service user can open C(/dev/kfd) and C(/dev/dri/renderD*)
    from their mode bits, owner, group and the user's groups, without switching user.
  - Never changes anything.
author:
  - localllm.workstation contributors
options:
  sysfs_root:
    description:
      - Folder where sysfs is mounted. Change it only to point at a copy or a test tree.
    type: path
    default: /sys
  dev_root:
    description:
      - Folder holding the device nodes C(kfd) and C(dri/renderD*).
    type: path
    default: /dev
  nvidia_smi:
    description:
      - Path or name of C(nvidia-smi). A name is looked up in E(PATH). When it cannot be
        found or fails, NVIDIA memory is reported as unknown, with a warning when an NVIDIA
        card is present or the option was changed from its default.
    type: str
    default: nvidia-smi
  rocm_smi:
    description:
      - Path or name of C(rocm-smi). A name is looked up in E(PATH). Used when sysfs has no
        memory figures for an C(amdgpu) card, and to cross-check those it has.
      - A path that does not exist or is not executable, or a name other than the default
        that is not in E(PATH), is warned about.
    type: str
    default: rocm-smi
  user:
    description:
      - The user the Ollama service runs as, whose access to the GPU device nodes is checked.
      - A user that does not exist is reported in RV(device_access), not an error.
    type: str
    default: ollama
attributes:
  check_mode:
    description: Can run in check mode and return the same results.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff to show.
    support: none
notes:
  - Memory that no tool reports is C(null), never guessed; Intel and unknown GPUs always
    have unknown memory.
  - Figures that cannot be true are reported as C(null) with a warning, never used. These
    are C(nan), C(inf), negative figures, figures above 16 TiB, used or free memory above
    the total, and C(nvidia-smi) rows that do not have the columns asked for.
  - Tool output that is not UTF-8 is decoded with U+FFFD in place of the bytes it cannot
    decode.
  - C(rocm-smi) numbers its GPUs C(GPU[0]), C(GPU[1]) ...; they are matched to the
    C(amdgpu) cards in PCI address order.
  - Without the C(pci.bus_id) column, C(nvidia-smi) rows are matched to the NVIDIA cards in
    PCI address order, which is C(nvidia-smi)'s own default order.
  - The Metal budget on Apple Silicon is an observed rule (about two thirds of RAM up to
    36 GB, three quarters above), not a figure Apple documents. Used and free memory are
    unknown there, since the GPU shares RAM with everything else.
  - The access check reads mode bits only; ACLs, SELinux or AppArmor rules and the
    C(uaccess) tags of logged-in seats are not considered.
'''

EXAMPLES = r'''
- name: Find the GPUs of the host
  localllm.workstation.gpu_info:
  register: gpu_info

- name: Install the ROCm build of Ollama when an AMD GPU is present
  ansible.builtin.set_fact:
    ollama_rocm: "{{ 'amd' in gpu_info.vendors }}"

- name: Stop when the service user cannot open the AMD device nodes
  ansible.builtin.assert:
    that: gpu_info.device_access.ok or 'amd' not in gpu_info.vendors
    fail_msg: "{{ gpu_info.device_access.problems | join('; ') }}"

- name: Check access for another service user, with nvidia-smi outside PATH
  localllm.workstation.gpu_info:
    user: llm
    nvidia_smi: /opt/nvidia/bin/nvidia-smi
'''

RETURN = r'''
gpus:
  description: GPUs found, sorted by PCI address. Empty on a machine without a GPU.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description:
        - The vendor tool's number for the GPU (C(nvidia-smi) index, C(rocm-smi) C(GPU[N])),
          otherwise its position among the GPUs of the same vendor in PCI order.
      type: int
      sample: 0
    vendor:
      description: One of C(nvidia), C(amd), C(intel), C(apple), C(unknown).
      type: str
      sample: amd
    pci_vendor_id:
      description: PCI vendor id, four lower-case hex digits; null on Apple Silicon.
      type: str
      sample: "1002"
    pci_device_id:
      description: PCI device id, four lower-case hex digits; null when unknown.
      type: str
      sample: 744c
    pci_slot:
      description: PCI address as sysfs writes it; null when unknown.
      type: str
      sample: "0000:03:00.0"
    name:
      description: Name reported by the vendor tool or the driver; null when none does.
      type: str
      sample: NVIDIA GeForce RTX 4090
    driver:
      description: Kernel driver bound to the card (C(amdgpu), C(radeon), C(nvidia) ...).
      type: str
      sample: amdgpu
    memory_total_bytes:
      description: Dedicated memory, or the Metal budget on Apple Silicon; null when unknown.
      type: int
      sample: 25753026560
    memory_used_bytes:
      description: Memory in use; null when unknown.
      type: int
      sample: 1642496000
    memory_free_bytes:
      description: Memory free; null when unknown.
      type: int
      sample: 24110530560
    memory_source:
      description:
        - Where the memory figures came from. C(nvidia-smi), C(sysfs), C(rocm-smi),
          C(metal-rule), C(iogpu.wired_limit_mb), or null when unknown.
      type: str
      sample: sysfs
vendors:
  description:
    - Sorted unique list of the vendors in RV(gpus). Test for a vendor with
      C('amd' in gpu_info.vendors).
  returned: always
  type: list
  elements: str
  sample: [amd, intel]
vram_total_bytes:
  description:
    - Sum of the known RV(gpus[].memory_total_bytes); C(0) without GPU memory.
    - Null when RV(memory_known) is false, so that unknown memory never reads as C(0).
  returned: always
  type: int
  sample: 25753026560
vram_free_bytes:
  description:
    - Sum of the known RV(gpus[].memory_free_bytes); C(0) without GPU memory; null when
      GPUs have memory but none reports what is free (Apple Silicon).
    - Null when RV(memory_known) is false.
  returned: always
  type: int
  sample: 24110530560
memory_known:
  description:
    - True when every GPU Ollama may compute on reports its total memory. Those are Apple
      GPUs, and NVIDIA and AMD GPUs unless bound to a driver Ollama does not use
      (C(nouveau), C(radeon), C(vfio-pci) ...). Also true without such GPUs.
    - False when one of them has unknown memory (tool missing or failing, C([N/A]) fields,
      figures that cannot be true); RV(vram_total_bytes) and RV(vram_free_bytes) are then
      null and RV(gpus) says which GPU is unknown.
  returned: always
  type: bool
  sample: true
accelerator:
  description:
    - What Ollama would compute on. C(nvidia), C(amd) or C(apple); C(mixed) when NVIDIA and
      AMD GPUs are both present; C(intel) when Intel GPUs are the only ones; C(cpu) when
      there is no GPU of these vendors. Unknown vendors (such as server BMC displays) and
      Intel GPUs next to NVIDIA or AMD ones do not count.
  returned: always
  type: str
  sample: amd
device_access:
  description: Whether O(user) can open the GPU device nodes for reading and writing.
  returned: always
  type: dict
  contains:
    user:
      description: The user checked.
      type: str
      sample: ollama
    user_exists:
      description: Whether the user exists on the host.
      type: bool
      sample: true
    ok:
      description: True when the user exists and nothing blocks it.
      type: bool
      sample: false
    devices:
      description: The device nodes checked.
      type: list
      elements: str
      sample: [/dev/kfd, /dev/dri/renderD128]
    problems:
      description: One sentence per problem found.
      type: list
      elements: str
      sample: [user ollama is not in group render which owns /dev/kfd]
'''

import glob
import grp
import os
import platform
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.localllm.workstation.plugins.module_utils import gpu as gpulib

NVIDIA_QUERY = '--query-gpu=' + ','.join(gpulib.NVIDIA_SMI_FIELDS)


def find_tool(module, option, default, consequence, needed=False):
    """Return an executable path for the tool named by ``option``, or None.

    Warns when it is missing and was asked for: a path, a name other than ``default``, or
    ``needed`` (a GPU is present that only this tool reports on).
    """
    name = module.params[option]
    if not name:
        return None
    if os.sep in name:
        if not os.path.exists(name):
            problem = 'does not exist'
        elif not os.path.isfile(name) or not os.access(name, os.X_OK):
            problem = 'is not executable'
        else:
            return name
        module.warn('%s %s %s; %s. Give the path of the tool, or its name to look it up '
                    'in PATH' % (option, name, problem, consequence))
        return None
    path = module.get_bin_path(name)
    if path is None and (name != default or needed):
        module.warn('%s %s is not in PATH; %s. Give the path of the tool'
                    % (option, name, consequence))
    return path


def new_gpu(device=None, vendor=None, index=0):
    device = device or {}
    return {
        'index': index,
        'vendor': vendor or device.get('vendor', 'unknown'),
        'pci_vendor_id': device.get('pci_vendor_id'),
        'pci_device_id': device.get('pci_device_id'),
        'pci_slot': device.get('pci_slot'),
        'name': None,
        'driver': device.get('driver'),
        'memory_total_bytes': None,
        'memory_used_bytes': None,
        'memory_free_bytes': None,
        'memory_source': None,
    }


def set_memory(gpu, figures, source):
    gpu['memory_total_bytes'] = figures.get('memory_total_bytes')
    gpu['memory_used_bytes'] = figures.get('memory_used_bytes')
    gpu['memory_free_bytes'] = figures.get('memory_free_bytes')
    has_figure = any(gpu[key] is not None for key in
                     ('memory_total_bytes', 'memory_used_bytes', 'memory_free_bytes'))
    gpu['memory_source'] = source if has_figure else None


def run_tool(module, args):
    """Run a tool; return rc and its output as text, undecodable bytes replaced."""
    rc, out, err = module.run_command(args, encoding=None)
    return rc, gpulib.decode_output(out), gpulib.decode_output(err)


def query_nvidia(module, path):
    """Run nvidia-smi; return parsed rows, or None when it fails (with a warning)."""
    rc, out, err = run_tool(module, [path, NVIDIA_QUERY, '--format=csv,noheader,nounits'])
    if rc != 0:
        module.warn('%s failed (rc %s): %s; NVIDIA memory is reported as unknown'
                    % (path, rc, (err or out).strip()))
        return None
    problems = []
    rows = gpulib.parse_nvidia_smi_csv(out, problems)
    for problem in problems:
        module.warn('%s: %s' % (path, problem))
    if not rows:
        shown = out.strip()
        module.warn('%s exited 0 but printed no GPU row (%s); NVIDIA memory is reported as '
                    'unknown' % (path, 'output: %r' % shown[:200] if shown else 'no output'))
    elif problems and all(row[key] is None for row in rows for key in gpulib.MEMORY_KEYS):
        module.warn('%s printed no memory figure that could be read; NVIDIA memory is '
                    'reported as unknown' % path)
    return rows


def add_nvidia(module, gpus, path):
    rows = query_nvidia(module, path) if path else None
    cards = [gpu for gpu in gpus if gpu['vendor'] == 'nvidia']
    if not rows:
        return
    by_slot = dict((gpu['pci_slot'], gpu) for gpu in cards)
    for position, row in enumerate(rows):
        gpu = by_slot.get(row['pci_slot']) if row['pci_slot'] else None
        if gpu is None and not row['pci_slot'] and position < len(cards):
            gpu = cards[position]
        if gpu is None:
            gpu = new_gpu(vendor='nvidia')
            gpu.update({'pci_vendor_id': '10de', 'pci_slot': row['pci_slot']})
            gpus.append(gpu)
        gpu['index'] = row['index']
        gpu['name'] = row['name']
        set_memory(gpu, row, 'nvidia-smi')


def add_amd(module, gpus, sysfs_root):
    cards = gpulib.scan_drm_cards(sysfs_root)
    amdgpu = [gpu for gpu in gpus if gpu['vendor'] == 'amd' and gpu['driver'] == 'amdgpu']
    for gpu in amdgpu:
        pci_folder = os.path.join(sysfs_root, 'bus', 'pci', 'devices', gpu['pci_slot'])
        folder = cards.get(gpu['pci_slot'], pci_folder)
        problems = []
        total, used, free = gpulib.read_amdgpu_vram(folder, problems)
        for problem in problems:
            module.warn('AMD GPU %s: %s' % (gpu['pci_slot'], problem))
        set_memory(gpu, {'memory_total_bytes': total, 'memory_used_bytes': used,
                         'memory_free_bytes': free}, 'sysfs')
        product = gpulib.read_text(os.path.join(folder, 'product_name'))
        if product:
            gpu['name'] = product
    if not amdgpu:
        return
    rocm_path = find_tool(module, 'rocm_smi', 'rocm-smi',
                          'AMD memory comes from sysfs alone')
    if not rocm_path:
        return
    rc, out, err = run_tool(module, [rocm_path, '--showmeminfo', 'vram'])
    if rc != 0:
        module.warn('%s --showmeminfo vram failed (rc %s): %s'
                    % (rocm_path, rc, (err or out).strip()))
        return
    problems = []
    figures = gpulib.parse_rocm_smi_meminfo(out, problems)
    for problem in problems:
        module.warn('%s: %s' % (rocm_path, problem))
    for number, gpu in enumerate(amdgpu):
        row = figures.get(number)
        if not row:
            continue
        if gpu['memory_total_bytes'] is None:
            set_memory(gpu, row, 'rocm-smi')
        elif row['memory_total_bytes'] is not None:
            ours, theirs = gpu['memory_total_bytes'], row['memory_total_bytes']
            if abs(ours - theirs) > 0.05 * max(ours, theirs):
                module.warn('AMD GPU %s: sysfs reports %d bytes of VRAM but rocm-smi GPU[%d] '
                            'reports %d; using sysfs' % (gpu['pci_slot'], ours, number, theirs))


def linux_gpus(module, params):
    sysfs_root = params['sysfs_root']
    devices = gpulib.scan_pci_display_devices(sysfs_root)
    gpus = []
    counters = {}
    for device in devices:
        vendor = device['vendor']
        gpus.append(new_gpu(device, index=counters.get(vendor, 0)))
        counters[vendor] = counters.get(vendor, 0) + 1
    pci_tree = os.path.isdir(os.path.join(sysfs_root, 'bus', 'pci', 'devices'))
    nvidia_cards = [gpu for gpu in gpus if gpu['vendor'] == 'nvidia']
    if nvidia_cards or not pci_tree:
        # A missing nvidia-smi is worth a warning when a card Ollama may use is present;
        # not for one bound to nouveau or vfio-pci, nor when there is no PCI tree to tell.
        needed = any(gpulib.ollama_may_use(gpu) for gpu in nvidia_cards)
        add_nvidia(module, gpus, find_tool(module, 'nvidia_smi', 'nvidia-smi',
                                           'NVIDIA memory is reported as unknown',
                                           needed=needed))
    if any(gpu['vendor'] == 'amd' for gpu in gpus):
        add_amd(module, gpus, sysfs_root)
    return gpus


def sysctl_int(module, name):
    path = module.get_bin_path('sysctl')
    if not path:
        return None
    rc, out, dummy = module.run_command([path, '-n', name])
    if rc != 0:
        return None
    try:
        return int(out.strip())
    except ValueError:
        return None


def apple_gpus(module):
    if platform.machine().lower() not in ('arm64', 'aarch64'):
        return []
    ram = sysctl_int(module, 'hw.memsize')
    wired = sysctl_int(module, 'iogpu.wired_limit_mb') or 0
    gpu = new_gpu(vendor='apple')
    gpu['name'] = 'Apple Silicon GPU'
    budget = gpulib.metal_budget_bytes(ram, wired)
    if budget is not None:
        gpu['memory_total_bytes'] = budget
        gpu['memory_source'] = 'iogpu.wired_limit_mb' if wired > 0 else 'metal-rule'
    return [gpu]


def device_access(module, params, gpus):
    user = params['user']
    if platform.system() == 'Darwin':
        return {'user': user, 'user_exists': True, 'ok': True, 'devices': [], 'problems': []}
    dev_root = params['dev_root']
    kfd = os.path.join(dev_root, 'kfd')
    nodes = [kfd] + sorted(glob.glob(os.path.join(dev_root, 'dri', 'renderD*')))
    required = [kfd] if any(gpu['driver'] == 'amdgpu' for gpu in gpus) else []
    result = gpulib.check_device_access(user, nodes, pwd, grp, required=required)
    if result['user_exists'] and result['problems'] and 'amd' in gpulib.summarize(gpus)['vendors']:
        module.warn('Ollama user %s cannot use the AMD GPU, Ollama would fall back to the CPU: '
                    '%s' % (user, '; '.join(result['problems'])))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysfs_root=dict(type='path', default='/sys'),
            dev_root=dict(type='path', default='/dev'),
            nvidia_smi=dict(type='str', default='nvidia-smi'),
            rocm_smi=dict(type='str', default='rocm-smi'),
            user=dict(type='str', default='ollama'),
        ),
        supports_check_mode=True,
    )
    if platform.system() == 'Darwin':
        gpus = apple_gpus(module)
    else:
        gpus = linux_gpus(module, module.params)
    result = dict(changed=False, gpus=gpus)
    result.update(gpulib.summarize(gpus))
    result['memory_known'] = gpulib.memory_known(gpus)
    result['device_access'] = device_access(module, module.params, gpus)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
