"""Module-level tests for localllm.workstation.gpu_info against fake sysfs trees and tools."""

import os
import stat

import pytest

from ansible_collections.localllm.workstation.plugins.modules import gpu_info

from account_fakes import FakeGrp, FakePwd, Gr, Pw

from module_runner import run_module_main, warning_texts

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'gpu')
SYSFS_MIXED = os.path.join(FIXTURES, 'sysfs-mixed')
MIB = 1024 * 1024
GIB = 1024 * MIB


def run_module(monkeypatch, capsys, args):
    """Run gpu_info.main() with args; return (exit code, parsed result)."""
    return run_module_main(gpu_info, monkeypatch, capsys, args)


warnings = warning_texts


def fake_tool(tmp_path, name, fixture_parts, rc=0):
    """Write an executable that records its arguments and prints a fixture."""
    script = tmp_path / name
    args_file = tmp_path / (name + '.args')
    body = '#!/bin/sh\necho "$@" > %s\n' % args_file
    if fixture_parts:
        body += 'cat %s\n' % os.path.join(FIXTURES, *fixture_parts)
    body += 'exit %d\n' % rc
    script.write_text(body)
    script.chmod(0o755)
    return str(script), args_file


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr(gpu_info.platform, 'system', lambda: 'Linux')


@pytest.fixture
def dev_tree(tmp_path):
    """A /dev with kfd and one render node, mode 0660, group = the test's own group."""
    dev = tmp_path / 'dev'
    (dev / 'dri').mkdir(parents=True)
    for node in (dev / 'kfd', dev / 'dri' / 'renderD128'):
        node.write_text('')
        node.chmod(0o660)
    return dev


def accounts(monkeypatch, dev, in_group):
    gid = os.stat(str(dev / 'kfd')).st_gid
    members = ['ollama'] if in_group else []
    monkeypatch.setattr(gpu_info, 'pwd', FakePwd({'ollama': Pw('ollama', 123456, 998)}))
    monkeypatch.setattr(gpu_info, 'grp', FakeGrp([Gr('ollama', 998, []),
                                                  Gr('render', gid, members)]))


def fake_card(sysfs, slot, vendor, device, driver=None):
    """A PCI display card under a fake sysfs root, bound to ``driver`` when given."""
    card = sysfs / 'bus' / 'pci' / 'devices' / slot
    card.mkdir(parents=True)
    (card / 'vendor').write_text('%s\n' % vendor)
    (card / 'device').write_text('%s\n' % device)
    (card / 'class').write_text('0x030000\n')
    if driver:
        (sysfs / 'bus' / 'pci' / 'drivers' / driver).mkdir(parents=True)
        os.symlink('../../drivers/%s' % driver, str(card / 'driver'))
    return card


def base_args(tmp_path, dev, **extra):
    args = {
        'sysfs_root': SYSFS_MIXED,
        'dev_root': str(dev),
        'nvidia_smi': str(tmp_path / 'no-nvidia-smi'),
        'rocm_smi': str(tmp_path / 'no-rocm-smi'),
    }
    args.update(extra)
    return args


def test_mixed_host_with_nvidia_smi(monkeypatch, capsys, tmp_path, linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi, smi_args = fake_tool(tmp_path, 'nvidia-smi', ('nvidia-smi', 'mixed-host.csv'))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    assert code == 0
    assert result['changed'] is False
    assert 'memory.total' in smi_args.read_text()
    assert '--format=csv,noheader,nounits' in smi_args.read_text()
    by_slot = dict((g['pci_slot'], g) for g in result['gpus'])
    assert list(by_slot) == ['0000:00:02.0', '0000:01:00.0', '0000:03:00.0', '0000:07:00.0',
                             '0000:09:00.0']
    nvidia = by_slot['0000:01:00.0']
    assert nvidia['name'] == 'NVIDIA GeForce RTX 4090'
    assert nvidia['memory_total_bytes'] == 24564 * MIB
    assert nvidia['memory_source'] == 'nvidia-smi'
    amd = by_slot['0000:03:00.0']
    assert amd['memory_total_bytes'] == 25753026560
    assert amd['memory_free_bytes'] == 25753026560 - 1642496000
    assert amd['memory_source'] == 'sysfs'
    radeon = by_slot['0000:07:00.0']
    assert radeon['driver'] == 'radeon'
    assert radeon['memory_total_bytes'] is None and radeon['memory_source'] is None
    assert by_slot['0000:00:02.0']['vendor'] == 'intel'
    assert by_slot['0000:00:02.0']['memory_total_bytes'] is None
    unknown = by_slot['0000:09:00.0']
    assert (unknown['vendor'], unknown['pci_vendor_id'], unknown['pci_device_id']) == (
        'unknown', '1a03', '2000')
    assert result['vendors'] == ['amd', 'intel', 'nvidia', 'unknown']
    assert result['accelerator'] == 'mixed'
    assert result['vram_total_bytes'] == 24564 * MIB + 25753026560
    assert result['device_access']['ok'] is True
    assert result['device_access']['devices'] == [str(dev_tree / 'kfd'),
                                                  str(dev_tree / 'dri' / 'renderD128')]


def test_nvidia_rows_without_bus_id_match_cards_in_pci_order(monkeypatch, capsys, tmp_path,
                                                             linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi, dummy = fake_tool(tmp_path, 'nvidia-smi', ('nvidia-smi', 'one-gpu.csv'))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    nvidia = [g for g in result['gpus'] if g['vendor'] == 'nvidia']
    assert len(nvidia) == 1
    assert nvidia[0]['pci_slot'] == '0000:01:00.0'
    assert nvidia[0]['memory_free_bytes'] == 23090 * MIB


def test_missing_nvidia_smi_leaves_memory_unknown(monkeypatch, capsys, tmp_path, linux,
                                                  dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    code, result = run_module(monkeypatch, capsys, base_args(tmp_path, dev_tree))
    nvidia = [g for g in result['gpus'] if g['vendor'] == 'nvidia'][0]
    assert nvidia['memory_total_bytes'] is None
    assert nvidia['memory_source'] is None
    assert nvidia['name'] is None


def test_failing_nvidia_smi_warns(monkeypatch, capsys, tmp_path, linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi, dummy = fake_tool(tmp_path, 'nvidia-smi', None, rc=9)
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    assert code == 0
    assert any('failed' in warning for warning in warnings(result))


def test_user_outside_render_group_is_reported(monkeypatch, capsys, tmp_path, linux,
                                               dev_tree):
    accounts(monkeypatch, dev_tree, in_group=False)
    code, result = run_module(monkeypatch, capsys, base_args(tmp_path, dev_tree))
    access = result['device_access']
    assert access['ok'] is False
    assert access['problems'] == [
        'user ollama is not in group render which owns %s' % (dev_tree / 'kfd'),
        'user ollama is not in group render which owns %s' % (dev_tree / 'dri' / 'renderD128'),
    ]
    assert any('fall back to the CPU' in warning for warning in warnings(result))


def test_missing_user_is_reported_not_an_error(monkeypatch, capsys, tmp_path, linux,
                                               dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, user='llm'))
    assert code == 0
    assert result['device_access']['user_exists'] is False
    assert result['device_access']['problems'] == ['user llm does not exist on this host']


def test_missing_kfd_with_an_amdgpu_card(monkeypatch, capsys, tmp_path, linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    os.unlink(str(dev_tree / 'kfd'))
    code, result = run_module(monkeypatch, capsys, base_args(tmp_path, dev_tree))
    assert result['device_access']['ok'] is False
    assert 'kfd does not exist' in result['device_access']['problems'][0]


def test_rocm_smi_fills_in_when_sysfs_has_no_figures(monkeypatch, capsys, tmp_path, linux,
                                                     dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    sysfs = tmp_path / 'sys'
    fake_card(sysfs, '0000:0c:00.0', '0x1002', '0x73bf', 'amdgpu')
    rocm, rocm_args = fake_tool(tmp_path, 'rocm-smi', ('rocm-smi', 'showmeminfo-vram-two.txt'))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, sysfs_root=str(sysfs),
                                        rocm_smi=rocm))
    assert rocm_args.read_text().split() == ['--showmeminfo', 'vram']
    assert result['gpus'][0]['memory_source'] == 'rocm-smi'
    assert result['gpus'][0]['memory_total_bytes'] == 17163091968
    assert result['vendors'] == ['amd']
    assert result['accelerator'] == 'amd'


def test_rocm_smi_disagreeing_with_sysfs_warns(monkeypatch, capsys, tmp_path, linux,
                                               dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    rocm, dummy = fake_tool(tmp_path, 'rocm-smi', ('rocm-smi', 'showmeminfo-vram-two.txt'))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, rocm_smi=rocm))
    amd = [g for g in result['gpus'] if g['driver'] == 'amdgpu'][0]
    assert amd['memory_source'] == 'sysfs'
    assert any('rocm-smi GPU[0]' in warning for warning in warnings(result))


def test_cpu_only_machine(monkeypatch, capsys, tmp_path, linux):
    dev = tmp_path / 'dev'
    dev.mkdir()
    sysfs = tmp_path / 'sys' / 'bus' / 'pci' / 'devices'
    bridge = sysfs / '0000:00:00.0'
    bridge.mkdir(parents=True)
    (bridge / 'vendor').write_text('0x8086\n')
    (bridge / 'class').write_text('0x060000\n')
    monkeypatch.setattr(gpu_info, 'pwd', FakePwd({'ollama': Pw('ollama', 123456, 998)}))
    monkeypatch.setattr(gpu_info, 'grp', FakeGrp([Gr('ollama', 998, [])]))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev, sysfs_root=str(tmp_path / 'sys')))
    assert code == 0
    assert result['gpus'] == []
    assert result['vendors'] == []
    assert result['vram_total_bytes'] == 0
    assert result['accelerator'] == 'cpu'
    assert result['device_access'] == {'user': 'ollama', 'user_exists': True, 'ok': True,
                                       'devices': [], 'problems': []}


def test_gpus_from_nvidia_smi_without_a_pci_tree(monkeypatch, capsys, tmp_path, linux,
                                                 dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi, dummy = fake_tool(tmp_path, 'nvidia-smi', ('nvidia-smi', 'several-gpus.csv'))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, sysfs_root=str(tmp_path / 'none'),
                                        nvidia_smi=smi))
    assert [g['index'] for g in result['gpus']] == [0, 1, 2]
    assert result['vram_total_bytes'] == (24576 * 2 + 12288) * MIB
    assert result['vram_free_bytes'] == (11279 + 3057 + 12038) * MIB
    assert result['accelerator'] == 'nvidia'


def test_apple_silicon_metal_budget(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_info.platform, 'system', lambda: 'Darwin')
    monkeypatch.setattr(gpu_info.platform, 'machine', lambda: 'arm64')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    sysctl = bin_dir / 'sysctl'
    sysctl.write_text('#!/bin/sh\ncase "$2" in\n'
                      '  hw.memsize) echo 68719476736 ;;\n'
                      '  iogpu.wired_limit_mb) echo "$WIRED" ;;\n'
                      '  *) exit 1 ;;\nesac\n')
    sysctl.chmod(stat.S_IRWXU)
    monkeypatch.setenv('PATH', str(bin_dir) + os.pathsep + os.environ.get('PATH', ''))
    monkeypatch.setenv('WIRED', '0')
    code, result = run_module(monkeypatch, capsys, {})
    assert result['vendors'] == ['apple']
    assert result['accelerator'] == 'apple'
    assert result['gpus'][0]['memory_total_bytes'] == 48 * GIB
    assert result['gpus'][0]['memory_source'] == 'metal-rule'
    assert result['vram_free_bytes'] is None

    monkeypatch.setenv('WIRED', '57344')
    code, result = run_module(monkeypatch, capsys, {})
    assert result['gpus'][0]['memory_total_bytes'] == 57344 * MIB
    assert result['gpus'][0]['memory_source'] == 'iogpu.wired_limit_mb'


def test_intel_mac_is_cpu(monkeypatch, capsys):
    monkeypatch.setattr(gpu_info.platform, 'system', lambda: 'Darwin')
    monkeypatch.setattr(gpu_info.platform, 'machine', lambda: 'x86_64')
    code, result = run_module(monkeypatch, capsys, {})
    assert result['gpus'] == [] and result['accelerator'] == 'cpu'


def tool_printing(tmp_path, name, data, rc=0, stream='stdout'):
    """Write an executable that prints data (bytes) on stdout or stderr."""
    output = tmp_path / (name + '.out')
    output.write_bytes(data)
    script = tmp_path / name
    redirect = ' >&2' if stream == 'stderr' else ''
    script.write_text('#!/bin/sh\ncat %s%s\nexit %d\n' % (output, redirect, rc))
    script.chmod(0o755)
    return str(script)


def no_surrogates(value):
    """True when no text in a result holds a lone surrogate (what undecodable bytes become)."""
    text = repr(value)
    return '\\ud8' not in text and '\\udc' not in text and not any(
        0xd800 <= ord(char) <= 0xdfff for char in str(value))


@pytest.mark.parametrize('figure', ['nan', 'inf', '1e308'])
def test_impossible_nvidia_figure_is_unknown_not_a_crash(monkeypatch, capsys, tmp_path, linux,
                                                         dev_tree, figure):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi = tool_printing(tmp_path, 'nvidia-smi', (
        '0, NVIDIA GeForce RTX 4090, %s, 1057, 23090, 00000000:01:00.0\n' % figure).encode())
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    assert code == 0
    nvidia = [g for g in result['gpus'] if g['vendor'] == 'nvidia'][0]
    assert nvidia['memory_total_bytes'] is None
    assert nvidia['name'] == 'NVIDIA GeForce RTX 4090'
    assert any(figure in text and 'memory.total' in text for text in warnings(result))
    assert result['memory_known'] is False
    assert result['vram_total_bytes'] is None


def test_non_utf8_nvidia_smi_output_is_valid_text(monkeypatch, capsys, tmp_path, linux,
                                                  dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi = tool_printing(tmp_path, 'nvidia-smi',
                        b'0, NVIDIA GeForce \xff\xfe 4090, 24564, 1057, 23090, '
                        b'00000000:01:00.0\n')
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    assert code == 0
    nvidia = [g for g in result['gpus'] if g['vendor'] == 'nvidia'][0]
    assert nvidia['name'] == u'NVIDIA GeForce \ufffd\ufffd 4090'
    assert nvidia['memory_total_bytes'] == 24564 * MIB
    assert no_surrogates(result)


def test_non_utf8_tool_errors_are_valid_text(monkeypatch, capsys, tmp_path, linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi = tool_printing(tmp_path, 'nvidia-smi', b'Fehler \xe4\n', rc=9, stream='stderr')
    rocm = tool_printing(tmp_path, 'rocm-smi', b'Erreur \xe9\n', rc=2, stream='stderr')
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi, rocm_smi=rocm))
    assert code == 0
    assert any(u'Fehler \ufffd' in text for text in warnings(result))
    assert any(u'Erreur \ufffd' in text for text in warnings(result))
    assert no_surrogates(result)


def test_nvidia_row_of_unknown_shape_is_reported_not_guessed(monkeypatch, capsys, tmp_path,
                                                             linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi = tool_printing(tmp_path, 'nvidia-smi', b'0, GPU, 8192, 0, 8192, banana\n')
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    assert code == 0
    nvidia = [g for g in result['gpus'] if g['vendor'] == 'nvidia']
    assert len(nvidia) == 1 and nvidia[0]['pci_slot'] == '0000:01:00.0'
    assert nvidia[0]['name'] is None
    assert nvidia[0]['memory_total_bytes'] is None
    assert nvidia[0]['memory_free_bytes'] is None
    assert any("'0, GPU, 8192, 0, 8192, banana'" in text for text in warnings(result))


def amd_only_sysfs(tmp_path, total, used):
    sysfs = tmp_path / 'sys'
    card = fake_card(sysfs, '0000:0c:00.0', '0x1002', '0x73bf', 'amdgpu')
    (card / 'mem_info_vram_total').write_text('%s\n' % total)
    (card / 'mem_info_vram_used').write_text('%s\n' % used)
    return str(sysfs)


@pytest.mark.parametrize('total, used', [(-1, 0), (10 ** 40, 0), (4096, 8192)])
def test_impossible_amdgpu_sysfs_figures_are_unknown(monkeypatch, capsys, tmp_path, linux,
                                                     dev_tree, total, used):
    accounts(monkeypatch, dev_tree, in_group=True)
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree,
                                        sysfs_root=amd_only_sysfs(tmp_path, total, used)))
    assert code == 0
    amd = result['gpus'][0]
    assert amd['memory_total_bytes'] is None and amd['memory_free_bytes'] is None
    assert any('0000:0c:00.0' in text and 'mem_info_vram' in text
               for text in warnings(result))
    assert result['memory_known'] is False
    assert result['vram_total_bytes'] is None


@pytest.mark.parametrize('option', ['nvidia_smi', 'rocm_smi'])
def test_given_tool_missing_or_not_executable_warns(monkeypatch, capsys, tmp_path, linux,
                                                    dev_tree, option):
    accounts(monkeypatch, dev_tree, in_group=True)
    missing = str(tmp_path / 'bin' / 'missing')
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, **{option: missing}))
    assert code == 0
    assert any(missing in text and option in text and 'does not exist' in text
               for text in warnings(result))
    plain = tmp_path / 'plain'
    plain.write_text('#!/bin/sh\n')
    plain.chmod(0o644)
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, **{option: str(plain)}))
    assert any(str(plain) in text and 'not executable' in text for text in warnings(result))


def test_named_tool_not_in_path_warns(monkeypatch, capsys, tmp_path, linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    monkeypatch.setenv('PATH', str(tmp_path))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi='my-nvidia-smi'))
    assert any('my-nvidia-smi' in text and 'PATH' in text for text in warnings(result))


@pytest.mark.parametrize('output', [b'', b'\n\n', b'No devices were found\n',
                                    b'0, GPU, 8192, 0, 8192, banana\n'])
def test_nvidia_smi_without_usable_rows_warns(monkeypatch, capsys, tmp_path, linux, dev_tree,
                                              output):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi = tool_printing(tmp_path, 'nvidia-smi', output)
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    assert code == 0
    assert any(smi in text and 'NVIDIA memory is reported as unknown' in text
               for text in warnings(result))


def test_unknown_nvidia_memory_totals_are_null_not_zero(monkeypatch, capsys, tmp_path,
                                                        linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    sysfs = tmp_path / 'sys'
    fake_card(sysfs, '0000:01:00.0', '0x10de', '0x2684')
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, sysfs_root=str(sysfs)))
    assert result['accelerator'] == 'nvidia'
    assert result['memory_known'] is False
    assert result['vram_total_bytes'] is None
    assert result['vram_free_bytes'] is None


def test_known_memory_is_flagged(monkeypatch, capsys, tmp_path, linux, dev_tree):
    accounts(monkeypatch, dev_tree, in_group=True)
    smi, dummy = fake_tool(tmp_path, 'nvidia-smi', ('nvidia-smi', 'mixed-host.csv'))
    code, result = run_module(monkeypatch, capsys,
                              base_args(tmp_path, dev_tree, nvidia_smi=smi))
    # The radeon card's memory is unknown, but Ollama cannot use it (no amdgpu driver).
    assert result['memory_known'] is True
    assert warnings(result) == [] or all('rocm' in text for text in warnings(result))
