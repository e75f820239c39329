using System.Buffers.Binary;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Core.Protos.Ttrpc;

namespace WasmKata.Specs.Shim;

/// <summary>What one fuzz input is, so the run can count them by kind.</summary>
internal enum FuzzKind
{
    RandomBytes,
    MutatedFrames,
    GarbagePayload,
    RandomFields,
    Stall,
}

/// <summary>
/// Builds fuzz inputs for a ttrpc task server from one <see cref="Random"/>: random bytes, valid frames with their
/// length, stream id, type and flags mutated, garbage payloads for every task method, and requests whose fields are
/// valid protobuf with hostile values. Deterministic for a given seed.
/// </summary>
internal sealed class TtrpcFuzzer(Random random)
{
    public const uint MaxFrame = 4u << 20;

    /// <summary>Every method of the task API with its request type, from the descriptor.</summary>
    public static readonly IReadOnlyList<MethodDescriptor> Methods = [.. ShimReflection.Descriptor.Services.Single().Methods];

    public static readonly string[] Services = ["containerd.task.v2.Task", "containerd.task.v3.Task"];

    // Ids and paths a hostile client would try; none names a real bundle, so no container can come of them.
    private static readonly string[] Strings =
    [
        "", ".", "..", "a/b", "../../etc", "x\0y", "/", "/nonexistent/bundle", "relative/bundle", "fuzz-id",
        new string('a', 300), new string('/', 40), "\u00e9\u4e2d\ud83d\ude00", "unix:///run/x", "file:///dev/null/x",
        "fifo:///nonexistent", "binary:///bin/false", "%00", "-", "proc", "exec-1",
    ];

    private readonly Random _random = random;

    /// <summary>Up to 4 KiB of noise, sometimes starting with a plausible header.</summary>
    public byte[] RandomBytes()
    {
        var bytes = new byte[_random.Next(0, 4096)];
        _random.NextBytes(bytes);
        if (bytes.Length >= 10 && _random.Next(2) == 0)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)_random.Next(0, bytes.Length));
            bytes[8] = 1;
        }

        return bytes;
    }

    /// <summary>One to four frames, each a valid request with one to three of its header fields or bytes mutated.</summary>
    public byte[] MutatedFrames()
    {
        var stream = new MemoryStream();
        var frames = _random.Next(1, 5);
        for (var i = 0; i < frames; i++)
        {
            var body = RequestBody(PickMethod(), Payload());
            var header = Header((uint)body.Length, NextStreamId(), 1, 0);
            for (var m = _random.Next(1, 4); m > 0; m--)
                Mutate(header, body);

            stream.Write(header);
            stream.Write(body);
        }

        return stream.ToArray();
    }

    /// <summary>A well-formed request frame whose payload is garbage for the method: it must be answered.</summary>
    public (byte[] Frame, uint StreamId, string Method) GarbagePayload(int index)
    {
        var method = Methods[index % Methods.Count];
        var payload = new byte[_random.Next(0, 512)];
        _random.NextBytes(payload);
        if (_random.Next(3) == 0)
            payload = Flip(RandomMessage(method.InputType, 0).ToByteArray());

        return Frame(method, payload);
    }

    /// <summary>A well-formed request whose payload decodes, with hostile values in every field: it must be answered.</summary>
    public (byte[] Frame, uint StreamId, string Method) RandomFields()
    {
        var method = PickMethod();
        return Frame(method, RandomMessage(method.InputType, 0).ToByteArray());
    }

    /// <summary>What a stalled client sends before it stops: nothing, part of a header, or part of a body.</summary>
    public byte[] StallPrefix()
    {
        var body = RequestBody(PickMethod(), Payload());
        var frame = (byte[])[.. Header((uint)body.Length, NextStreamId(), 1, 0), .. body];
        return _random.Next(4) switch
        {
            0 => [],
            1 => frame[.._random.Next(1, 10)],
            2 => frame[..Math.Max(10, frame.Length - 1)],
            _ => Header(MaxFrame - 1, 1, 1, 0),
        };
    }

    private (byte[] Frame, uint StreamId, string Method) Frame(MethodDescriptor method, byte[] payload)
    {
        var id = NextStreamId() | 1;
        var body = RequestBody(method, payload);
        return ([.. Header((uint)body.Length, id, 1, 0), .. body], id, method.Name);
    }

    private byte[] RequestBody(MethodDescriptor method, byte[] payload)
    {
        var request = new Request
        {
            Service = _random.Next(10) == 0 ? Pick(Strings) : Services[_random.Next(Services.Length)],
            Method = _random.Next(20) == 0 ? Pick(Strings) : method.Name,
            Payload = ByteString.CopyFrom(payload),
        };
        if (_random.Next(4) == 0)
            request.TimeoutNano = _random.Next(3) switch { 0 => 1, 1 => long.MaxValue, _ => _random.NextInt64(-1, 10_000_000_000) };

        if (_random.Next(4) == 0)
            request.Metadata.Add(new KeyValue { Key = Pick(Strings), Value = Pick(Strings) });

        return request.ToByteArray();
    }

    private byte[] Payload() => _random.Next(3) switch
    {
        0 => [],
        1 => RandomMessage(PickMethod().InputType, 0).ToByteArray(),
        _ => RandomBytesOf(_random.Next(0, 256)),
    };

    private void Mutate(byte[] header, byte[] body)
    {
        switch (_random.Next(6))
        {
            case 0:
                // Length: shorter (the rest becomes the next header), longer (waits for bytes), or huge.
                uint[] lengths = [0, 1, (uint)body.Length / 2, (uint)body.Length + 1, MaxFrame, MaxFrame + 1, uint.MaxValue, (uint)_random.Next()];
                BinaryPrimitives.WriteUInt32BigEndian(header, Pick(lengths));
                break;
            case 1:
                uint[] ids = [0, 2, uint.MaxValue, uint.MaxValue - 1, (uint)_random.Next()];
                BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), Pick(ids));
                break;
            case 2:
                header[8] = (byte)_random.Next(256);
                break;
            case 3:
                header[9] = (byte)_random.Next(256);
                break;
            default:
                if (body.Length > 0)
                    body[_random.Next(body.Length)] ^= (byte)(1 << _random.Next(8));

                break;
        }
    }

    private IMessage RandomMessage(MessageDescriptor descriptor, int depth)
    {
        var message = descriptor.Parser.ParseFrom(ByteString.Empty);
        foreach (var field in descriptor.Fields.InFieldNumberOrder())
        {
            if (_random.Next(3) == 0 || (field.FieldType == FieldType.Message && depth > 2))
                continue;

            if (field.IsMap)
            {
                var map = (System.Collections.IDictionary)field.Accessor.GetValue(message);
                var key = field.MessageType.FindFieldByNumber(1);
                var value = field.MessageType.FindFieldByNumber(2);
                for (var i = _random.Next(0, 3); i > 0; i--)
                    map[RandomValue(key, depth)] = RandomValue(value, depth);
            }
            else if (field.IsRepeated)
            {
                var list = (System.Collections.IList)field.Accessor.GetValue(message);
                for (var i = _random.Next(0, 4); i > 0; i--)
                    list.Add(RandomValue(field, depth));
            }
            else
            {
                field.Accessor.SetValue(message, RandomValue(field, depth));
            }
        }

        return message;
    }

    private object RandomValue(FieldDescriptor field, int depth) => field.FieldType switch
    {
        FieldType.String => Pick(Strings),
        FieldType.Bytes => ByteString.CopyFrom(RandomBytesOf(_random.Next(0, 64))),
        FieldType.Bool => _random.Next(2) == 0,
        FieldType.UInt32 or FieldType.Fixed32 => (uint)Pick(new long[] { 0, 1, 9, 15, 64, 65, uint.MaxValue, _random.Next() }),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => Pick(new[] { 0, -1, 9, int.MinValue, int.MaxValue, _random.Next() }),
        FieldType.UInt64 or FieldType.Fixed64 => (ulong)_random.NextInt64(),
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => _random.NextInt64(long.MinValue, long.MaxValue),
        FieldType.Enum => _random.Next(-1, 8),
        FieldType.Double => _random.NextDouble(),
        FieldType.Float => (float)_random.NextDouble(),
        FieldType.Message when field.MessageType.FullName == Any.Descriptor.FullName =>
            new Any { TypeUrl = Pick(Strings), Value = ByteString.CopyFrom(RandomBytesOf(_random.Next(0, 64))) },
        FieldType.Message => RandomMessage(field.MessageType, depth + 1),
        _ => throw new NotSupportedException(field.FieldType.ToString()),
    };

    private byte[] Flip(byte[] bytes)
    {
        if (bytes.Length == 0)
            return [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];

        bytes[_random.Next(bytes.Length)] ^= 0xFF;
        return _random.Next(2) == 0 ? bytes[.._random.Next(bytes.Length)] : bytes;
    }

    private byte[] RandomBytesOf(int count)
    {
        var bytes = new byte[count];
        _random.NextBytes(bytes);
        return bytes;
    }

    private MethodDescriptor PickMethod() => Methods[_random.Next(Methods.Count)];

    private uint NextStreamId() => (uint)_random.Next(0, int.MaxValue);

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private static byte[] Header(uint length, uint streamId, byte type, byte flags)
    {
        var header = new byte[10];
        BinaryPrimitives.WriteUInt32BigEndian(header, length);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), streamId);
        header[8] = type;
        header[9] = flags;
        return header;
    }
}
