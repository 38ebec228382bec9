"""Module-level tests for localllm.workstation.vram_check."""

import pytest

from ansible_collections.localllm.workstation.plugins.modules import vram_check

from module_runner import run_module_main, warning_texts

MIB = 1024 * 1024
GIB = 1024 * MIB

LLAMA_8B = {'parameters': '8.03B', 'quantization': 'Q4_K_M', 'layers': 32, 'kv_heads': 8,
            'head_dim': 128}
LLAMA_3B = {'parameters': '3.21B', 'quantization': 'Q4_K_M', 'layers': 28, 'kv_heads': 8,
            'head_dim': 128}
QWEN_32B = {'parameters': '32.76B', 'quantization': 'Q4_K_M', 'layers': 64, 'kv_heads': 8,
            'head_dim': 128}

# What /api/show returns for llama3.1:8b (model_info trimmed to the figures used).
SHOW_LLAMA_8B = {
    'details': {'format': 'gguf', 'family': 'llama', 'parameter_size': '8.0B',
                'quantization_level': 'Q4_K_M'},
    'model_info': {
        'general.architecture': 'llama',
        'general.parameter_count': 8030261248,
        'llama.block_count': 32,
        'llama.context_length': 131072,
        'llama.embedding_length': 4096,
        'llama.attention.head_count': 32,
        'llama.attention.head_count_kv': 8,
        'llama.rope.dimension_count': 128,
        'llama.vocab_size': 128256,
    },
}


def run_module(monkeypatch, capsys, args):
    """Run vram_check.main() with args; return (exit code, parsed result)."""
    return run_module_main(vram_check, monkeypatch, capsys, args)


warnings = warning_texts


def nvidia(total, free=None):
    return {'index': 0, 'vendor': 'nvidia', 'memory_total_bytes': total,
            'memory_used_bytes': None if free is None else total - free,
            'memory_free_bytes': free, 'memory_source': 'nvidia-smi'}


def test_fits(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, vram_bytes=8 * GIB))
    assert code == 0
    assert result['changed'] is False
    assert result['verdict'] == 'fits'
    assert result['gpu_share'] == 1.0
    assert result['kv_cache_bytes'] == GIB // 2
    assert result['reserve_bytes'] == 457 * MIB
    assert result['available_bytes'] == 8 * GIB
    assert result['headroom_bytes'] == result['available_bytes'] - result['required_bytes']
    assert result['quantization'] == 'Q4_K_M'
    assert result['low_quality'] is False
    assert result['suggestions'] == []
    assert 'fits in 8.0 GiB' in result['summary']
    assert warnings(result) == []


def test_partial_at_32k_warns_by_default(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, vram_bytes=8 * GIB, context_length=32768))
    assert code == 0
    assert result['verdict'] == 'partial'
    assert 0 < result['gpu_share'] < 1
    assert result['headroom_bytes'] < 0
    assert 'context_length 16384' in result['suggestions']
    assert any('To make it fit' in text for text in warnings(result))


def test_cpu_without_gpu(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, gpus=[], policy='skip'))
    assert code == 0
    assert result['verdict'] == 'cpu'
    assert result['available_bytes'] == 0
    assert 'runs on the CPU' in result['summary']
    assert warnings(result) == []


def test_policy_fail_gives_figures_and_changes(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, vram_bytes=8 * GIB, context_length=32768,
                                   num_parallel=2, on_mismatch='fail'))
    assert code == 1
    assert result['failed'] is True
    assert result['verdict'] == 'partial'
    assert 'To make it fit, change one of:' in result['msg']
    # 2 slots x 32k context need 8 GiB of f16 KV cache; q8_0 still does not fit, q4_0 does.
    assert result['suggestions'] == [
        'context_length 8192', 'kv_cache_type q4_0 (with OLLAMA_FLASH_ATTENTION=1)']
    for item in result['suggestions']:
        assert item in result['msg']
    assert result['required_bytes'] > result['available_bytes']


def test_policy_skip_only_reports(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, vram_bytes=4 * GIB, policy='skip'))
    assert code == 0
    assert result['verdict'] == 'partial'
    assert warnings(result) == []


def test_gpus_list_total_or_free(monkeypatch, capsys):
    gpus = [nvidia(8 * GIB, free=3 * GIB),
            {'vendor': 'intel', 'memory_total_bytes': None, 'memory_free_bytes': None},
            {'vendor': 'unknown', 'memory_total_bytes': 64 * MIB, 'memory_free_bytes': None}]
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, gpus=gpus, policy='skip'))
    assert result['available_bytes'] == 8 * GIB
    assert result['verdict'] == 'fits'
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, gpus=gpus, policy='skip',
                                                        use_free_memory=True))
    assert result['available_bytes'] == 3 * GIB
    assert result['verdict'] == 'partial'


def test_metal_reserve_and_overhead(monkeypatch, capsys):
    apple = {'vendor': 'apple', 'memory_total_bytes': 48 * GIB, 'memory_free_bytes': None}
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, gpus=[apple], gpu_overhead_bytes=GIB))
    assert result['reserve_bytes'] == 512 * MIB
    assert result['overhead_bytes'] == GIB


def test_model_info_from_api_show(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              {'model_info': SHOW_LLAMA_8B['model_info'],
                               'details': SHOW_LLAMA_8B['details'],
                               'context_length': 8192, 'vram_bytes': 24 * GIB})
    assert code == 0
    assert result['parameters'] == 8030261248
    assert result['quantization'] == 'Q4_K_M'
    assert result['kv_cache_bytes'] == GIB
    assert result['graph_bytes'] == 4 * 512 * (128256 + 4 * 4096)
    assert result['verdict'] == 'fits'


def test_whole_api_show_answer_and_context_above_training(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              {'model_info': SHOW_LLAMA_8B, 'context_length': 262144,
                               'vram_bytes': 80 * GIB, 'kv_cache_type': 'q8_0'})
    assert code == 0
    assert result['quantization'] == 'Q4_K_M'
    assert any('trained for' in text for text in warnings(result))


def test_low_quality_warns(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, quantization='iq2_xs', vram_bytes=8 * GIB))
    assert result['low_quality'] is True
    assert result['quantization'] == 'IQ2_XS'
    assert any('below 4-bit' in text for text in warnings(result))


CANDIDATES = [dict(QWEN_32B, name='qwen2.5-coder:32b'), dict(LLAMA_8B, name='llama3.1:8b'),
              dict(LLAMA_3B, name='llama3.2:3b')]


@pytest.mark.parametrize('vram, chosen', [(8 * GIB, 'llama3.1:8b'),
                                          (24 * GIB, 'qwen2.5-coder:32b')])
def test_candidates_choose_by_host(monkeypatch, capsys, vram, chosen):
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': CANDIDATES, 'gpus': [nvidia(vram)],
                               'policy': 'fail'})
    assert code == 0
    assert result['chosen'] == chosen
    assert result['chosen_index'] == [c['name'] for c in CANDIDATES].index(chosen)
    assert result['verdict'] == 'fits'
    assert [e['name'] for e in result['evaluations']] == [c['name'] for c in CANDIDATES]
    assert 'first candidate that fits fully' in result['reason']


def test_candidate_overrides_context(monkeypatch, capsys):
    candidates = [dict(LLAMA_8B, name='long', context_length=131072),
                  dict(LLAMA_8B, name='short')]
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': candidates, 'vram_bytes': 8 * GIB})
    assert result['chosen'] == 'short'
    assert result['evaluations'][0]['verdict'] == 'partial'


def test_no_candidate_fits_warn_picks_largest_share(monkeypatch, capsys):
    candidates = [dict(QWEN_32B, name='qwen2.5-coder:32b'), dict(LLAMA_8B, name='llama3.1:8b')]
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': candidates, 'vram_bytes': 4 * GIB})
    assert code == 0
    assert result['chosen'] == 'llama3.1:8b'
    assert result['verdict'] == 'partial'
    assert result['reason'].startswith('no candidate fits fully')
    assert any('no candidate fits fully' in text for text in warnings(result))


def test_no_candidate_fits_fail(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': CANDIDATES[:1], 'vram_bytes': 4 * GIB,
                               'policy': 'fail'})
    assert code == 1
    assert 'no candidate fits fully' in result['msg']
    assert result['evaluations'][0]['name'] == 'qwen2.5-coder:32b'


def test_no_candidate_cpu_only_host_skip(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': CANDIDATES, 'gpus': [], 'policy': 'skip'})
    assert code == 0
    assert result['verdict'] == 'cpu'
    assert result['chosen'] == 'llama3.2:3b'


@pytest.mark.parametrize('args, words', [
    (dict(LLAMA_8B, quantization='Q4_K_X'), ["quantization: unknown quantization 'Q4_K_X'",
                                             'Q4_K_M', 'IQ1_M']),
    (dict(LLAMA_8B, parameters='8'), ['below one million', '8B']),
    (dict(LLAMA_8B, parameters='20T'), ['above 10T']),
    (dict(LLAMA_8B, parameters=-3), ['below one million']),
    (dict(LLAMA_8B, context_length=0), ['context_length must be at least 1']),
    (dict(LLAMA_8B, context_length=20000000), ['context_length 20000000 is above']),
    (dict(LLAMA_8B, num_parallel=0), ['num_parallel must be at least 1']),
    (dict(LLAMA_8B, layers=0), ['layers must be at least 1']),
    (dict(LLAMA_8B, gpu_overhead_bytes=-1), ['gpu_overhead_bytes must be 0 or more']),
    ({'parameters': '8B', 'quantization': 'Q4_K_M'}, ['cannot be sized without', 'layers',
                                                      'kv_heads', 'head_dim']),
    ({'quantization': 'Q4_K_M', 'layers': 32, 'kv_heads': 8, 'head_dim': 128},
     ['parameters is missing']),
    ({'parameters': '8B', 'layers': 32, 'kv_heads': 8, 'head_dim': 128},
     ['quantization is missing', 'Q8_0']),
])
def test_bad_input_names_the_option(monkeypatch, capsys, args, words):
    args = dict(args, vram_bytes=8 * GIB)
    code, result = run_module(monkeypatch, capsys, args)
    assert code == 1
    for word in words:
        assert word in result['msg']


def test_vram_negative_and_missing(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, vram_bytes=-1))
    assert code == 1 and 'vram_bytes must be 0' in result['msg']
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B))
    assert code == 1 and 'vram_bytes' in result['msg'] and 'gpus' in result['msg']


def test_bad_candidate_names_its_position(monkeypatch, capsys):
    candidates = [dict(LLAMA_8B, name='ok'), dict(LLAMA_8B, name='typo', quant='Q4_0')]
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': candidates, 'vram_bytes': 8 * GIB})
    assert code == 1
    assert "candidates[1] (typo): unknown key quant" in result['msg']
    candidates = [dict(LLAMA_8B, name='small', parameters='5')]
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': candidates, 'vram_bytes': 8 * GIB})
    assert code == 1 and result['msg'].startswith('candidates[0] (small): ')


def test_head_dim_from_embedding_and_heads(monkeypatch, capsys):
    args = {'parameters': '8B', 'quantization': 'Q8_0', 'layers': 32, 'heads': 32,
            'embedding_length': 4096, 'context_length': 8192, 'vram_bytes': 24 * GIB}
    code, result = run_module(monkeypatch, capsys, args)
    # Without kv_heads every head keeps keys and values: four times the GQA figure.
    assert result['kv_cache_bytes'] == 4 * GIB


# malformed input gets the module's own message, never a traceback



@pytest.mark.parametrize('args, words', [
    ({'gpus': [{'vendor': 'nvidia', 'memory_total_bytes': '8GiB'}]},
     ["gpus[0].memory_total_bytes must be a whole number of bytes", "'8GiB'", '8589934592']),
    ({'gpus': [{'vendor': 'nvidia', 'memory_total_bytes': 8.5}]},
     ['gpus[0].memory_total_bytes must be a whole number of bytes']),
    ({'gpus': [{'vendor': 'nvidia', 'memory_total_bytes': True}]},
     ['gpus[0].memory_total_bytes must be a whole number of bytes']),
    ({'gpus': [{'vendor': 'nvidia', 'memory_total_bytes': -8 * GIB}]},
     ['gpus[0].memory_total_bytes must be 0 or more', 'null when unknown']),
    ({'gpus': [nvidia(8 * GIB), {'vendor': 'amd', 'memory_total_bytes': 8 * GIB,
                                 'memory_free_bytes': -1}], 'use_free_memory': True},
     ['gpus[1].memory_free_bytes must be 0 or more']),
    ({'gpus': [{'vendor': ['nvidia'], 'memory_total_bytes': 8 * GIB}]},
     ['gpus[0].vendor must be a string', 'nvidia, amd, apple']),
])
def test_malformed_gpus_are_refused(monkeypatch, capsys, args, words):
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, **args))
    assert code == 1
    assert 'Traceback' not in result['msg'] and 'exception' not in result
    for word in words:
        assert word in result['msg']


def test_candidate_name_must_be_text(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': [dict(LLAMA_8B, name=[1])],
                               'vram_bytes': 8 * GIB})
    assert code == 1
    assert 'exception' not in result
    assert result['msg'].startswith('candidates[0]: name must be a model name')
    assert '[1]' in result['msg'] and 'llama3.1:8b' in result['msg']


@pytest.mark.parametrize('details, shown', [('x', "'x'"), (7, '7'), (['Q4_K_M'], "['Q4_K_M']")])
def test_model_info_with_details_that_are_not_a_dictionary(monkeypatch, capsys, details,
                                                           shown):
    show = {'model_info': SHOW_LLAMA_8B['model_info'], 'details': details}
    code, result = run_module(monkeypatch, capsys, {'model_info': show, 'vram_bytes': 8 * GIB})
    assert code == 1
    assert 'exception' not in result
    assert 'model_info.details must be a dictionary' in result['msg']
    assert shown in result['msg']


def test_candidate_with_bad_model_info_names_it(monkeypatch, capsys):
    candidates = [{'name': 'x', 'model_info': {'model_info': {}, 'details': ['Q4_K_M']}}]
    code, result = run_module(monkeypatch, capsys,
                              {'candidates': candidates, 'vram_bytes': 8 * GIB})
    assert code == 1 and 'exception' not in result
    assert result['msg'].startswith('candidates[0] (x): ')


def test_free_memory_above_total_is_capped(monkeypatch, capsys):
    gpu = {'vendor': 'nvidia', 'memory_total_bytes': 8 * GIB, 'memory_free_bytes': 80 * GIB}
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, gpus=[gpu], use_free_memory=True, policy='skip'))
    assert code == 0
    assert result['available_bytes'] == 8 * GIB
    assert any('gpus[0]' in text and 'memory_free_bytes' in text and 'above' in text
               for text in warnings(result))


@pytest.mark.parametrize('vendor', ['NVIDIA', 'Nvidia', ' amd ', 'Apple'])
def test_vendor_in_any_case_counts(monkeypatch, capsys, vendor):
    gpu = {'vendor': vendor, 'memory_total_bytes': 8 * GIB, 'memory_free_bytes': None}
    code, result = run_module(monkeypatch, capsys, dict(LLAMA_8B, gpus=[gpu], policy='skip'))
    assert code == 0
    assert result['available_bytes'] == 8 * GIB
    assert result['verdict'] == 'fits'


def _show_with_kv(value):
    info = dict(SHOW_LLAMA_8B['model_info'])
    info['llama.attention.head_count_kv'] = value
    return {'model_info': info, 'details': SHOW_LLAMA_8B['details']}


def test_per_layer_head_count_kv_counts_with_its_largest_value(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(_show_with_kv([0, 8, 4] + [8] * 29), context_length=8192,
                                   vram_bytes=24 * GIB))
    assert code == 0
    assert result['kv_cache_bytes'] == GIB


@pytest.mark.parametrize('value, words', [
    ([], ['llama.attention.head_count_kv', 'empty list', 'kv_heads']),
    (['8'], ['llama.attention.head_count_kv', "['8']", 'whole numbers', 'kv_heads']),
    ([8, 8.5], ['whole numbers']),
    ([8, True], ['whole numbers']),
    ([8, None], ['whole numbers']),
])
def test_bad_per_layer_head_count_kv_is_refused(monkeypatch, capsys, value, words):
    code, result = run_module(monkeypatch, capsys,
                              dict(_show_with_kv(value), vram_bytes=24 * GIB))
    assert code == 1
    for word in words:
        assert word in result['msg']


def test_bad_per_layer_list_is_not_needed_when_the_option_is_given(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(_show_with_kv([]), kv_heads=8, context_length=8192,
                                   vram_bytes=24 * GIB))
    assert code == 0 and result['kv_cache_bytes'] == GIB


@pytest.mark.parametrize('kind', ['Q8_0', 'q8_0', 'Q8_0 '])
def test_kv_cache_type_in_any_case(monkeypatch, capsys, kind):
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, vram_bytes=8 * GIB, context_length=8192,
                                   kv_cache_type=kind))
    assert code == 0
    # q8_0 keeps 1.0625 bytes per element where f16 keeps 2: 1 GiB of f16 at 8k.
    assert result['kv_cache_bytes'] == int(GIB * 1.0625 / 2)
    assert 'KV cache q8_0' in result['summary']


def test_unknown_kv_cache_type_says_what_to_write(monkeypatch, capsys):
    code, result = run_module(monkeypatch, capsys,
                              dict(LLAMA_8B, vram_bytes=8 * GIB, kv_cache_type='q5_0'))
    assert code == 1
    assert "kv_cache_type 'q5_0'" in result['msg']
    assert 'f16, q8_0 or q4_0' in result['msg']
