"""Tests for the model size estimate in plugins/module_utils/sizing.py."""

import pytest

from ansible_collections.localllm.workstation.plugins.module_utils import sizing

MIB = 1024 * 1024
GIB = 1024 * MIB

# Published Q4_K_M file sizes (FIELD_NOTES 8), with the real parameter counts and the
# architecture figures (layers, KV heads, head size).
PUBLISHED = {
    'llama3.1-8b': (8.03e9, 4.92e9, 32, 8, 128),
    'llama3.2-3b': (3.21e9, 2.02e9, 28, 8, 128),
    'qwen2.5-coder-32b': (32.76e9, 19.9e9, 64, 8, 128),
}


def spec(name='llama3.1-8b', **changes):
    params, dummy, layers, kv_heads, head_dim = PUBLISHED[name]
    result = {'parameters': int(params), 'quantization': 'Q4_K_M', 'layers': layers,
              'kv_heads': kv_heads, 'head_dim': head_dim, 'context_length': 4096,
              'kv_cache_type': 'f16', 'num_parallel': 1}
    result.update(changes)
    return result


def one_gpu(size, reserve=sizing.RESERVE_CUDA_ROCM):
    return [{'memory_bytes': size, 'reserve_bytes': reserve}]


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_weights_within_five_percent_of_published_q4_k_m(name):
    params, published, dummy, dummy2, dummy3 = PUBLISHED[name]
    estimate = sizing.weights_bytes(int(params), 'Q4_K_M')
    assert abs(estimate - published) / published < 0.05


def test_weights_scale_with_quantization():
    params = 8030000000
    f16 = sizing.weights_bytes(params, 'F16')
    q8 = sizing.weights_bytes(params, 'q8_0')
    q4 = sizing.weights_bytes(params, 'Q4_K_M')
    assert f16 == 2 * params + sizing.FILE_OVERHEAD_BYTES
    assert f16 > q8 > q4


def test_kv_cache_llama_3_1_8b_at_8k_is_one_gib():
    assert sizing.kv_cache_bytes(32, 8, 128, 8192, 'f16') == 2 * 32 * 8 * 128 * 8192 * 2
    assert sizing.kv_cache_bytes(32, 8, 128, 8192, 'f16') == GIB


@pytest.mark.parametrize('name, context, expected', [
    ('llama3.2-3b', 8192, 2 * 28 * 8 * 128 * 8192 * 2),
    ('qwen2.5-coder-32b', 32768, 2 * 64 * 8 * 128 * 32768 * 2),
])
def test_kv_cache_for_the_other_architectures(name, context, expected):
    dummy, dummy2, layers, kv_heads, head_dim = PUBLISHED[name]
    assert sizing.kv_cache_bytes(layers, kv_heads, head_dim, context) == expected


def test_q8_0_kv_cache_about_halves_and_q4_0_quarters():
    f16 = sizing.kv_cache_bytes(32, 8, 128, 8192, 'f16')
    q8 = sizing.kv_cache_bytes(32, 8, 128, 8192, 'q8_0')
    q4 = sizing.kv_cache_bytes(32, 8, 128, 8192, 'q4_0')
    assert q8 == int(f16 * 1.0625 / 2)
    assert 0.5 < q8 / f16 < 0.55
    assert 0.25 < q4 / f16 < 0.3


def test_parallel_multiplies_the_kv_cache():
    one = sizing.kv_cache_bytes(32, 8, 128, 4096, 'f16', 1)
    assert sizing.kv_cache_bytes(32, 8, 128, 4096, 'f16', 4) == 4 * one


def test_separate_value_head_size():
    assert sizing.kv_cache_bytes(2, 1, 192, 10, 'f16', value_dim=128) == 2 * 1 * 320 * 10 * 2


def test_fits_at_4k_but_not_at_32k_on_the_same_gpu():
    gpus = one_gpu(8 * GIB)
    small = sizing.fit(sizing.estimate(spec()), gpus, layers=32)
    large = sizing.fit(sizing.estimate(spec(context_length=32768)), gpus, layers=32)
    assert small['verdict'] == 'fits' and small['gpu_share'] == 1.0
    assert small['headroom_bytes'] > 0
    assert large['verdict'] == 'partial'
    assert 0 < large['gpu_share'] < 1
    assert large['headroom_bytes'] < 0


def test_partial_share_counts_whole_layers():
    result = sizing.fit(sizing.estimate(spec(context_length=32768)), one_gpu(8 * GIB),
                        layers=32)
    layers_on_gpu = result['gpu_share'] * 32
    assert abs(layers_on_gpu - round(layers_on_gpu)) < 0.01
    # 8 GiB - 457 MiB reserve - 256 MiB graph over 4.6 GiB weights + 4 GiB KV: 27.2 layers
    assert round(layers_on_gpu) == 27


def test_no_gpu_is_cpu():
    result = sizing.fit(sizing.estimate(spec()), [], layers=32)
    assert result['verdict'] == 'cpu' and result['gpu_share'] == 0.0
    assert result['available_bytes'] == 0 and result['reserve_bytes'] == 0


def test_gpu_smaller_than_the_reserve_is_cpu():
    result = sizing.fit(sizing.estimate(spec()), one_gpu(512 * MIB), layers=32)
    assert result['verdict'] == 'cpu'


def test_required_adds_reserve_and_overhead_per_gpu():
    parts = sizing.estimate(spec())
    gpus = one_gpu(24 * GIB) + one_gpu(24 * GIB)
    result = sizing.fit(parts, gpus, overhead_bytes=100 * MIB)
    assert result['reserve_bytes'] == 2 * sizing.RESERVE_CUDA_ROCM
    assert result['overhead_bytes'] == 200 * MIB
    assert result['required_bytes'] == (parts['weights_bytes'] + parts['kv_cache_bytes']
                                        + parts['graph_bytes'] + 2 * sizing.RESERVE_CUDA_ROCM
                                        + 200 * MIB)
    assert result['available_bytes'] == 48 * GIB


def test_graph_allowance():
    assert sizing.graph_bytes() == sizing.GRAPH_FALLBACK_BYTES
    assert sizing.graph_bytes(4096, 128256) == 4 * 512 * (128256 + 4 * 4096)


@pytest.mark.parametrize('text, count', [
    ('8B', 8 * 10 ** 9), ('70b', 70 * 10 ** 9), ('1.1B', 1100000000), ('500M', 500000000),
    ('8.03B', 8030000000), (8030000000, 8030000000), ('8030000000', 8030000000),
    (' 32.76 B ', 32760000000), ('1T', 10 ** 12),
])
def test_parse_parameters(text, count):
    assert sizing.parse_parameters(text) == count


@pytest.mark.parametrize('text, words', [
    ('8', 'below one million'), (0, 'below one million'), (-8, 'below one million'),
    ('11T', 'above 10T'), ('eight', 'not a count'), ('8 GB', 'not a count'),
    (None, 'must be a count'), (True, 'must be a count'),
])
def test_parse_parameters_refuses(text, words):
    with pytest.raises(ValueError) as error:
        sizing.parse_parameters(text)
    assert words in str(error.value)


@pytest.mark.parametrize('given, canonical', [
    ('q4_k_m', 'Q4_K_M'), ('Q4_K', 'Q4_K_M'), ('Q5_K', 'Q5_K_M'), ('fp16', 'F16'),
    ('FP32', 'F32'), ('INT8', 'Q8_0'), ('int4', 'Q4_K_M'), ('INT5', 'Q5_K_M'),
    ('iq2_xs', 'IQ2_XS'), ('IQ1_M', 'IQ1_M'), ('bf16', 'BF16'), ('Q6_K', 'Q6_K'),
])
def test_quantization_names_and_aliases(given, canonical):
    assert sizing.normalize_quantization(given) == canonical


def test_every_quantization_the_guide_names_is_known():
    for name in ('FP32', 'FP16', 'Q8_0', 'Q5_K', 'Q5_K_M', 'Q4_K', 'Q4_K_M', 'IQ2_XS',
                 'IQ1_M', 'INT8', 'INT4', 'INT5'):
        sizing.normalize_quantization(name)


def test_unknown_quantization_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        sizing.normalize_quantization('Q4_K_X')
    assert "'Q4_K_X'" in str(error.value)
    assert 'Q4_K_M' in str(error.value) and 'IQ1_S' in str(error.value)


def test_bytes_per_parameter_fall_with_bits():
    ordered = sorted(sizing.QUANTIZATIONS.values(), key=lambda item: -item[0])
    bits = [item[1] for item in ordered]
    assert bits == sorted(bits, reverse=True)


def test_low_quality_below_four_bits():
    assert not sizing.is_low_quality('Q4_K_M')
    assert not sizing.is_low_quality('IQ4_XS')
    assert sizing.is_low_quality('Q3_K_M')
    assert sizing.is_low_quality('IQ2_XS')
    assert sizing.is_low_quality('IQ1_M')


def test_suggestions_name_changes_that_fit():
    big = spec(context_length=32768, num_parallel=2)
    found = sizing.suggestions(big, one_gpu(12 * GIB))
    assert 'context_length 16384' in found
    assert 'num_parallel 1' in found
    assert any(item.startswith('kv_cache_type q8_0') for item in found)
    for item in found:
        key, value = item.split(' ')[:2]
        changed = dict(big, **{key: int(value) if value.isdigit() else value})
        assert sizing.fit(sizing.estimate(changed), one_gpu(12 * GIB))['verdict'] == 'fits'


def test_suggestions_do_not_go_below_four_bits():
    found = sizing.suggestions(spec('qwen2.5-coder-32b'), one_gpu(20 * GIB))
    quant = [item for item in found if item.startswith('quantization')]
    assert quant and not sizing.is_low_quality(quant[0].split()[1])


def test_summary_reads_the_verdict():
    parts = sizing.estimate(spec())
    result = sizing.fit(parts, one_gpu(8 * GIB), layers=32)
    text = sizing.summary('llama3.1:8b', spec(), parts, result)
    assert text.startswith('llama3.1:8b (8.03B parameters, Q4_K_M, context 4096')
    assert 'fits in 8.0 GiB' in text


@pytest.mark.parametrize('given, canonical', [
    ('f16', 'f16'), ('F16', 'f16'), ('Q8_0', 'q8_0'), (' q4_0 ', 'q4_0'), ('Q4-0', 'q4_0'),
])
def test_kv_cache_type_in_any_case(given, canonical):
    assert sizing.normalize_kv_cache_type(given) == canonical


@pytest.mark.parametrize('given', ['q5_0', '', None, 8, ['f16']])
def test_unknown_kv_cache_type_lists_the_valid_ones(given):
    with pytest.raises(ValueError) as error:
        sizing.normalize_kv_cache_type(given)
    assert 'f16, q8_0 or q4_0' in str(error.value)
    assert repr(given) in str(error.value)
