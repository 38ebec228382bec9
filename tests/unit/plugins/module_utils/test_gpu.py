"""Tests for the GPU parsers and helpers in plugins/module_utils/gpu.py."""

import os
import stat

import pytest

from ansible_collections.localllm.workstation.plugins.module_utils import gpu

from account_fakes import FakeGrp, FakePwd, Gr, Pw

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'gpu')
MIB = 1024 * 1024
GIB = 1024 * MIB


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


# nvidia-smi

def test_nvidia_one_gpu():
    rows = gpu.parse_nvidia_smi_csv(fixture('nvidia-smi', 'one-gpu.csv'))
    assert rows == [{
        'index': 0,
        'name': 'NVIDIA GeForce RTX 4090',
        'memory_total_bytes': 24564 * MIB,
        'memory_used_bytes': 1057 * MIB,
        'memory_free_bytes': 23090 * MIB,
        'pci_slot': None,
    }]


def test_nvidia_several_gpus_keep_order_and_bus_ids():
    rows = gpu.parse_nvidia_smi_csv(fixture('nvidia-smi', 'several-gpus.csv'))
    assert [row['index'] for row in rows] == [0, 1, 2]
    assert [row['pci_slot'] for row in rows] == ['0000:01:00.0', '0000:21:00.0', '0000:4b:00.0']
    assert rows[2]['name'] == 'NVIDIA GeForce RTX 3060'
    assert rows[2]['memory_total_bytes'] == 12288 * MIB
    assert rows[1]['memory_free_bytes'] == 3057 * MIB


def test_nvidia_na_fields_are_unknown_not_zero():
    rows = gpu.parse_nvidia_smi_csv(fixture('nvidia-smi', 'na-fields.csv'))
    assert len(rows) == 1
    assert rows[0]['name'] == 'NVIDIA GB10'
    assert rows[0]['pci_slot'] == '000f:01:00.0'
    for key in ('memory_total_bytes', 'memory_used_bytes', 'memory_free_bytes'):
        assert rows[0][key] is None


def test_nvidia_not_supported_fields_next_to_a_working_gpu():
    rows = gpu.parse_nvidia_smi_csv(fixture('nvidia-smi', 'not-supported.csv'))
    assert rows[0]['memory_total_bytes'] == 2047 * MIB
    assert rows[1]['name'] == 'GRID K520'
    assert rows[1]['memory_total_bytes'] is None
    assert rows[1]['memory_free_bytes'] is None


def test_nvidia_tolerates_units_a_comma_in_the_name_and_noise():
    text = ('0, Tesla, PCIe edition, 16384 MiB, 10 MiB, 16374 MiB\n'
            '\n'
            'NVIDIA-SMI has failed because it could not communicate with the driver\n')
    rows = gpu.parse_nvidia_smi_csv(text)
    assert len(rows) == 1
    assert rows[0]['name'] == 'Tesla, PCIe edition'
    assert rows[0]['memory_total_bytes'] == 16384 * MIB


def test_nvidia_empty_output():
    assert gpu.parse_nvidia_smi_csv('') == []
    assert gpu.parse_nvidia_smi_csv(None) == []


# rocm-smi

def test_rocm_one_gpu():
    figures = gpu.parse_rocm_smi_meminfo(fixture('rocm-smi', 'showmeminfo-vram-one.txt'))
    assert figures == {0: {'memory_total_bytes': 25753026560,
                           'memory_used_bytes': 1642496000,
                           'memory_free_bytes': 25753026560 - 1642496000}}


def test_rocm_two_gpus():
    figures = gpu.parse_rocm_smi_meminfo(fixture('rocm-smi', 'showmeminfo-vram-two.txt'))
    assert sorted(figures) == [0, 1]
    assert figures[0]['memory_total_bytes'] == 17163091968
    assert figures[1]['memory_used_bytes'] == 26079232


def test_rocm_ignores_banners_and_errors():
    text = 'ERROR: GPU[0]\t\t: Unable to get GPU memory use.\n=====\n'
    assert gpu.parse_rocm_smi_meminfo(text) == {}


# ids and classes

@pytest.mark.parametrize('text, expected', [
    ('0x10de\n', '10de'), ('0x1002', '1002'), ('8086', '8086'), ('0X1A03', '1a03'),
    ('', None), (None, None), ('zz', None),
])
def test_normalize_pci_id(text, expected):
    assert gpu.normalize_pci_id(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('0x030000\n', True), ('0x030200', True), ('0x038000', True),
    ('0x040300', False), ('0x060000', False), ('', False), (None, False),
])
def test_is_display_class(text, expected):
    assert gpu.is_display_class(text) is expected


def test_vendor_names():
    assert [gpu.vendor_name(v) for v in ('10de', '1002', '8086', '1a03')] == [
        'nvidia', 'amd', 'intel', 'unknown']


def test_normalize_pci_slot():
    assert gpu.normalize_pci_slot('00000000:4B:00.0') == '0000:4b:00.0'
    assert gpu.normalize_pci_slot('0000:03:00.0') == '0000:03:00.0'
    assert gpu.normalize_pci_slot('[N/A]') is None


# sysfs

def test_scan_finds_display_controllers_only():
    devices = gpu.scan_pci_display_devices(os.path.join(FIXTURES, 'sysfs-mixed'))
    assert [(d['pci_slot'], d['vendor'], d['driver']) for d in devices] == [
        ('0000:00:02.0', 'intel', 'i915'),
        ('0000:01:00.0', 'nvidia', 'nvidia'),
        ('0000:03:00.0', 'amd', 'amdgpu'),
        ('0000:07:00.0', 'amd', 'radeon'),
        ('0000:09:00.0', 'unknown', 'ast'),
    ]
    assert devices[-1]['pci_vendor_id'] == '1a03'
    assert devices[2]['pci_device_id'] == '744c'


def test_scan_missing_tree_is_empty(tmp_path):
    assert gpu.scan_pci_display_devices(str(tmp_path)) == []
    assert gpu.scan_drm_cards(str(tmp_path)) == {}


def test_drm_cards_map_to_pci_slots_and_skip_connectors():
    cards = gpu.scan_drm_cards(os.path.join(FIXTURES, 'sysfs-mixed'))
    assert sorted(cards) == ['0000:00:02.0', '0000:01:00.0', '0000:03:00.0', '0000:07:00.0',
                             '0000:09:00.0']
    assert cards['0000:03:00.0'].endswith(os.path.join('card2', 'device'))


def test_read_amdgpu_vram():
    cards = gpu.scan_drm_cards(os.path.join(FIXTURES, 'sysfs-mixed'))
    assert gpu.read_amdgpu_vram(cards['0000:03:00.0']) == (
        25753026560, 1642496000, 25753026560 - 1642496000)
    assert gpu.read_amdgpu_vram(cards['0000:00:02.0']) == (None, None, None)


# Metal budget (FIELD_NOTES 4)

@pytest.mark.parametrize('ram_gb, budget', [
    (16, 16 * GIB * 2 // 3),
    (36, 24 * GIB),
    (64, 48 * GIB),
    (128, 96 * GIB),
])
def test_metal_rule(ram_gb, budget):
    assert gpu.metal_budget_bytes(ram_gb * GIB) == budget


def test_metal_rule_switches_above_36_gb():
    assert gpu.metal_budget_bytes(36 * GIB) == 36 * GIB * 2 // 3
    assert gpu.metal_budget_bytes(48 * GIB) == 36 * GIB


def test_metal_wired_limit_override():
    assert gpu.metal_budget_bytes(64 * GIB, wired_limit_mb=57344) == 57344 * MIB
    assert gpu.metal_budget_bytes(64 * GIB, wired_limit_mb=0) == 48 * GIB


def test_metal_without_ram_is_unknown():
    assert gpu.metal_budget_bytes(None) is None
    assert gpu.metal_budget_bytes(0) is None


# device access

RENDER_GID = 990
VIDEO_GID = 44
OLLAMA_UID = 999


def test_not_in_owning_group():
    problem = gpu.access_problem('ollama', OLLAMA_UID, {998: 'ollama'}, '/dev/kfd',
                                 stat.S_IFCHR | 0o660, 0, RENDER_GID, 'render')
    assert problem == 'user ollama is not in group render which owns /dev/kfd'


def test_member_of_owning_group_passes():
    groups = {998: 'ollama', RENDER_GID: 'render'}
    assert gpu.access_problem('ollama', OLLAMA_UID, groups, '/dev/kfd',
                              stat.S_IFCHR | 0o660, 0, RENDER_GID, 'render') is None


def test_group_without_write_bit():
    groups = {RENDER_GID: 'render'}
    problem = gpu.access_problem('ollama', OLLAMA_UID, groups, '/dev/dri/renderD128',
                                 stat.S_IFCHR | 0o640, 0, RENDER_GID, 'render')
    assert 'mode 0640' in problem and 'group render' in problem


def test_world_accessible_and_root():
    assert gpu.access_problem('ollama', OLLAMA_UID, {}, '/dev/kfd', 0o666, 0, RENDER_GID,
                              'render') is None
    assert gpu.access_problem('root', 0, {}, '/dev/kfd', 0o600, 0, RENDER_GID,
                              'render') is None


def test_closed_to_everyone_else():
    problem = gpu.access_problem('ollama', OLLAMA_UID, {}, '/dev/kfd', 0o600, 0, RENDER_GID,
                                 'render')
    assert 'no read and write access' in problem


def fake_accounts(file_gid, members):
    users = {'ollama': Pw('ollama', OLLAMA_UID + 100000, 998)}
    groups = [Gr('ollama', 998, []), Gr('render', file_gid, members)]
    return FakePwd(users), FakeGrp(groups)


def test_check_device_access_reports_each_blocked_node(tmp_path):
    kfd = tmp_path / 'kfd'
    kfd.write_text('')
    os.chmod(str(kfd), 0o660)
    file_gid = os.stat(str(kfd)).st_gid
    pwd_mod, grp_mod = fake_accounts(file_gid, [])
    result = gpu.check_device_access('ollama', [str(kfd)], pwd_mod, grp_mod)
    assert result['user_exists'] is True
    assert result['ok'] is False
    assert result['devices'] == [str(kfd)]
    assert result['problems'] == ['user ollama is not in group render which owns %s' % kfd]

    pwd_mod, grp_mod = fake_accounts(file_gid, ['ollama'])
    result = gpu.check_device_access('ollama', [str(kfd)], pwd_mod, grp_mod)
    assert result['ok'] is True and result['problems'] == []


def test_check_device_access_missing_user_and_missing_kfd(tmp_path):
    pwd_mod, grp_mod = fake_accounts(0, [])
    result = gpu.check_device_access('nobody-here', [], pwd_mod, grp_mod)
    assert result['user_exists'] is False and result['ok'] is False
    assert result['problems'] == ['user nobody-here does not exist on this host']

    kfd = str(tmp_path / 'kfd')
    result = gpu.check_device_access('ollama', [kfd], pwd_mod, grp_mod, required=[kfd])
    assert result['ok'] is False
    assert result['devices'] == []
    assert result['problems'][0].startswith('%s does not exist' % kfd)


# summary

def _gpu(vendor, total=None, free=None):
    return {'vendor': vendor, 'memory_total_bytes': total, 'memory_free_bytes': free}


def test_summary_cpu_only():
    assert gpu.summarize([]) == {'vendors': [], 'vram_total_bytes': 0, 'vram_free_bytes': 0,
                                 'accelerator': 'cpu'}


def test_summary_ignores_unknown_and_intel_next_to_compute_gpus():
    summary = gpu.summarize([_gpu('intel'), _gpu('amd', 16 * GIB, 15 * GIB),
                             _gpu('unknown')])
    assert summary['vendors'] == ['amd', 'intel', 'unknown']
    assert summary['accelerator'] == 'amd'
    assert summary['vram_total_bytes'] == 16 * GIB
    assert summary['vram_free_bytes'] == 15 * GIB


def test_summary_mixed_intel_and_unknown_free():
    assert gpu.summarize([_gpu('nvidia'), _gpu('amd')])['accelerator'] == 'mixed'
    assert gpu.summarize([_gpu('intel')])['accelerator'] == 'intel'
    assert gpu.summarize([_gpu('unknown')])['accelerator'] == 'cpu'
    assert gpu.summarize([_gpu('apple', 24 * GIB)])['vram_free_bytes'] is None


# input the parsers must not trust

@pytest.mark.parametrize('figure', ['nan', 'NaN', 'inf', '-inf', 'Infinity', '1e308',
                                    '99999999999'])
def test_nvidia_impossible_figure_is_unknown_with_a_warning(figure):
    warnings = []
    rows = gpu.parse_nvidia_smi_csv(
        '0, NVIDIA GeForce RTX 4090, %s, 1057, 23090, 00000000:01:00.0\n' % figure, warnings)
    assert len(rows) == 1
    assert rows[0]['name'] == 'NVIDIA GeForce RTX 4090'
    assert rows[0]['pci_slot'] == '0000:01:00.0'
    assert rows[0]['memory_total_bytes'] is None
    assert rows[0]['memory_used_bytes'] == 1057 * MIB
    assert rows[0]['memory_free_bytes'] == 23090 * MIB
    assert len(warnings) == 1
    assert figure in warnings[0] and 'memory.total' in warnings[0]
    assert 'unknown' in warnings[0]


def test_nvidia_not_available_fields_are_unknown_without_a_warning():
    warnings = []
    rows = gpu.parse_nvidia_smi_csv(fixture('nvidia-smi', 'na-fields.csv'), warnings)
    assert rows[0]['memory_total_bytes'] is None
    assert warnings == []


@pytest.mark.parametrize('line', [
    '0, GPU, 8192, 0, 8192, banana',
    '0, GPU, 8192, 0, banana',
    '0, GPU, 8192, 0',
    '0, 8192, 0, 8192',
    '0, GPU, 8192, 0, 8192, 00000000:01:00.0, extra',
])
def test_nvidia_row_of_unknown_shape_is_not_guessed(line):
    warnings = []
    rows = gpu.parse_nvidia_smi_csv(line + '\n', warnings)
    assert len(rows) == 1
    row = rows[0]
    assert row['index'] == 0
    assert row['name'] is None
    for key in ('memory_total_bytes', 'memory_used_bytes', 'memory_free_bytes'):
        assert row[key] is None
    assert len(warnings) == 1
    assert repr(line) in warnings[0]
    assert 'index, name, memory.total, memory.used, memory.free, pci.bus_id' in warnings[0]


def test_nvidia_row_of_unknown_shape_keeps_a_valid_bus_id():
    warnings = []
    rows = gpu.parse_nvidia_smi_csv('1, GPU, 8192, banana, 00000000:21:00.0', warnings)
    assert rows[0]['pci_slot'] == '0000:21:00.0'
    assert rows[0]['memory_total_bytes'] is None
    assert len(warnings) == 1


@pytest.mark.parametrize('line', [
    '0, GPU, 8192, 9000, 100, 00000000:01:00.0',
    '0, GPU, 8192, 0, 9000, 00000000:01:00.0',
    '0, GPU, 0, 8192, 77',
])
def test_nvidia_used_or_free_above_total_is_unknown(line):
    warnings = []
    rows = gpu.parse_nvidia_smi_csv(line, warnings)
    for key in ('memory_total_bytes', 'memory_used_bytes', 'memory_free_bytes'):
        assert rows[0][key] is None
    assert len(warnings) == 1 and 'above' in warnings[0]


def test_nvidia_lines_that_are_not_gpu_rows_are_reported():
    warnings = []
    rows = gpu.parse_nvidia_smi_csv(
        'NVIDIA-SMI has failed because it could not communicate with the driver\n', warnings)
    assert rows == []
    assert len(warnings) == 1 and 'NVIDIA-SMI has failed' in warnings[0]


def test_rocm_impossible_figures_are_unknown():
    text = ('GPU[0]\t\t: VRAM Total Memory (B): %d\n'
            'GPU[0]\t\t: VRAM Total Used Memory (B): 4096\n'
            'GPU[1]\t\t: VRAM Total Memory (B): 4096\n'
            'GPU[1]\t\t: VRAM Total Used Memory (B): 8192\n' % 10 ** 40)
    warnings = []
    figures = gpu.parse_rocm_smi_meminfo(text, warnings)
    assert figures[0] == {'memory_total_bytes': None, 'memory_used_bytes': 4096,
                          'memory_free_bytes': None}
    assert figures[1] == {'memory_total_bytes': None, 'memory_used_bytes': None,
                          'memory_free_bytes': None}
    assert len(warnings) == 2
    assert 'GPU[0]' in warnings[0] and str(10 ** 40) in warnings[0]
    assert 'GPU[1]' in warnings[1] and 'above' in warnings[1]


def _amd_card(tmp_path, total, used):
    card = tmp_path / 'card'
    card.mkdir()
    (card / 'mem_info_vram_total').write_text('%s\n' % total)
    (card / 'mem_info_vram_used').write_text('%s\n' % used)
    return str(card)


@pytest.mark.parametrize('total, used, expected', [
    (-17163091968, 4096, (None, 4096, None)),
    (10 ** 40, 4096, (None, 4096, None)),
    (16 * GIB, -1, (16 * GIB, None, None)),
    (4096, 8192, (None, None, None)),
])
def test_read_amdgpu_vram_refuses_impossible_figures(tmp_path, total, used, expected):
    warnings = []
    assert gpu.read_amdgpu_vram(_amd_card(tmp_path, total, used), warnings) == expected
    assert len(warnings) == 1
    assert 'mem_info_vram' in warnings[0] and 'unknown' in warnings[0]


def test_read_amdgpu_vram_sane_figures_give_no_warning(tmp_path):
    warnings = []
    assert gpu.read_amdgpu_vram(_amd_card(tmp_path, 16 * GIB, GIB), warnings) == (
        16 * GIB, GIB, 15 * GIB)
    assert warnings == []


def _card(vendor, total=None, free=None, driver=None):
    return {'vendor': vendor, 'driver': driver, 'memory_total_bytes': total,
            'memory_free_bytes': free}


def test_memory_known_only_when_every_usable_gpu_reports_it():
    assert gpu.memory_known([]) is True
    assert gpu.memory_known([_card('nvidia', 8 * GIB, GIB, 'nvidia')]) is True
    # Intel, unknown vendors and AMD cards off amdgpu are never counted by Ollama.
    assert gpu.memory_known([_card('nvidia', 8 * GIB, GIB, 'nvidia'), _card('intel'),
                             _card('unknown'), _card('amd', driver='radeon')]) is True
    assert gpu.memory_known([_card('nvidia', driver='nvidia')]) is False
    assert gpu.memory_known([_card('nvidia')]) is False
    assert gpu.memory_known([_card('amd', driver='amdgpu')]) is False
    assert gpu.memory_known([_card('apple', 48 * GIB)]) is True


def test_summary_with_unknown_memory_is_null_not_zero():
    summary = gpu.summarize([_card('nvidia', driver='nvidia')])
    assert summary['vram_total_bytes'] is None
    assert summary['vram_free_bytes'] is None
    summary = gpu.summarize([_card('nvidia', 8 * GIB, GIB, 'nvidia'),
                             _card('nvidia', driver='nvidia')])
    assert summary['vram_total_bytes'] is None
    assert summary['vram_free_bytes'] is None
    assert summary['accelerator'] == 'nvidia'


def test_decode_output_replaces_bytes_that_are_not_utf8():
    assert gpu.decode_output(b'0, NVIDIA \xff GPU\n') == u'0, NVIDIA \ufffd GPU\n'
    assert gpu.decode_output(u'already text') == u'already text'
    assert gpu.decode_output(None) == u''
