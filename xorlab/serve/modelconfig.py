"""Triton's model configuration extension: a model's config.pbtxt, read with Triton's own schema
(the vendored model_config.proto), completed as Triton completes it, and written as Triton's JSON.

Triton answers `GET /v2/models/<m>/config` with the *normalized* configuration (core
model_config_utils.cc, GetNormalizedModelConfig): for an ONNX model it names the backend and the
default file, gives each instance group a name and fills in the default version policy. Its JSON is
protobuf's, field names as in the .proto, every field printed (empty lists and maps too) but unset
sub-messages, enums by name, and int64 fields as JSON numbers (protobuf's mapping writes strings;
Triton turns them back, ModelConfigToJson). perf_analyzer reads it: max_batch_size, the inputs.
"""

from __future__ import annotations

from google.protobuf import json_format, text_format
from google.protobuf.descriptor import FieldDescriptor

from xorlab.modelrepo import spec
from xorlab.modelrepo.reader import RepositoryError
from xorlab.serve.proto import model_config_pb2

ModelConfig = model_config_pb2.ModelConfig
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def parse(data: bytes, name: str) -> ModelConfig:
    """config.pbtxt's bytes as Triton reads them, normalized; RepositoryError when Triton would
    refuse the file (not its schema, or another model's name)."""
    config = ModelConfig()
    try:
        text_format.Parse(data.decode("utf-8"), config)
    except (UnicodeDecodeError, text_format.ParseError) as exc:
        detail = str(exc).splitlines()[0][:200]
        raise RepositoryError(f"{spec.CONFIG_FILE} is not a Triton model configuration: {detail}") from None
    if config.name not in ("", name):
        raise RepositoryError(f"{spec.CONFIG_FILE} names model {config.name[:60]!r}; its folder is '{name}'")
    return normalized(config, name)


def normalized(config: ModelConfig, name: str) -> ModelConfig:
    """The fields Triton fills in for an ONNX model when it loads the configuration."""
    done = ModelConfig()
    done.CopyFrom(config)
    done.name = name
    if done.platform == spec.PLATFORM and not done.backend:
        done.backend = "onnxruntime"
    if done.backend == "onnxruntime" and not done.default_model_filename:
        done.default_model_filename = spec.ONNX_FILE
    if not done.HasField("version_policy"):
        done.version_policy.latest.num_versions = 1
    for i, group in enumerate(done.instance_group):
        if not group.name:
            group.name = f"{name}_{i}"
    for pinned in ("input_pinned_memory", "output_pinned_memory"):
        if not done.optimization.HasField(pinned):
            getattr(done.optimization, pinned).enable = True
    return done


def to_json(config: ModelConfig) -> dict:
    """Triton's JSON form of a configuration."""
    data = json_format.MessageToDict(
        config, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _int64_as_numbers(config, data)
    return data


def _int64_as_numbers(message, data: dict) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.name not in data:
            continue
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key in value:
                json_key = str(key).lower() if isinstance(key, bool) else str(key)
                if value_field.message_type is not None:
                    _int64_as_numbers(value[key], data[field.name][json_key])
                elif value_field.type in _INT64:
                    data[field.name][json_key] = int(data[field.name][json_key])
        elif field.message_type is not None:
            if field.is_repeated:
                for item, item_data in zip(value, data[field.name], strict=True):
                    _int64_as_numbers(item, item_data)
            else:
                _int64_as_numbers(value, data[field.name])
        elif field.type in _INT64:
            data[field.name] = [int(v) for v in data[field.name]] if field.is_repeated else int(data[field.name])
