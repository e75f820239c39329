using System.Globalization;
using System.Text;

namespace WasmKata.Specs.Engine;

/// <summary>Modules made to measure: many functions, so compiling takes long enough for first uses to overlap.</summary>
public static class GeneratedModules
{
    /// <summary>
    /// A module whose <c>_start</c> returns at once, with <paramref name="functions"/> functions of straight-line
    /// arithmetic and a data segment of <paramref name="tag"/> (a new tag makes a new module, digest and all).
    /// </summary>
    public static byte[] Wasm(int functions, string tag)
    {
        var wat = new StringBuilder();
        wat.Append(CultureInfo.InvariantCulture, $"(module (memory 1) (data (i32.const 0) \"{tag}\")\n");
        for (var f = 0; f < functions; f++)
        {
            wat.Append(CultureInfo.InvariantCulture, $"(func (export \"f{f}\") (param i64 i64) (result i64) local.get 0\n");
            for (var op = 0; op < 24; op++)
                wat.Append(CultureInfo.InvariantCulture, $"local.get 1 i64.mul i64.const {f * 31 + op} i64.add local.get 0 i64.xor\n");
            wat.Append(")\n");
        }
        wat.Append("(func (export \"_start\")))\n");
        return Wasmtime.Module.ConvertText(wat.ToString());
    }
}
