namespace WasmKata.Shim.Ttrpc;

/// <summary>The type byte of a ttrpc frame header.</summary>
internal enum FrameType : byte
{
    Request = 1,
    Response = 2,
    Data = 3,
}
