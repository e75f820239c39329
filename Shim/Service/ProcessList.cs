using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.Runc;
using WasmKata.Core.Protos.TaskApi;
using static WasmKata.Actors.TaskProtocol;
using ProtoProcessInfo = WasmKata.Core.Protos.Types.ProcessInfo;

namespace WasmKata.Shim.Service;

/// <summary>
/// The Pids answer: one entry per guest process of the container (init, then each live exec), each naming the host
/// process that runs it, which is this daemon: a guest is a thread of it, not a process of its own.
/// </summary>
/// <remarks>
/// Callers take these pids as host processes. dockerd's <c>docker top</c> runs <c>ps -q PIDS</c> and keeps only the
/// rows whose PID column is one of them; a guest's thread id comes back from ps as the daemon's pid, so answering
/// thread ids left an empty table. CRI counts the entries as the pod's processes, and containerd treats an empty
/// answer after its restart as a leaked shim, so there is always one entry per process, init included. An exec's entry
/// carries runc's <c>ProcessDetails</c> with its exec id, which <c>ctr task ps</c> prints in its INFO column.
/// With guest_isolation = "process" each guest is a guest host process of its own, and its entry names that process.
/// </remarks>
internal static class ProcessList
{
    public static PidsResponse From(PidList list, uint hostPid)
    {
        var response = new PidsResponse();
        foreach (var entry in list.Processes)
        {
            var info = new ProtoProcessInfo { Pid = list.OwnProcesses && entry.Pid != 0 ? entry.Pid : hostPid };
            if (entry.ExecId.Length > 0)
                info.Info = new Any { TypeUrl = ProcessDetails.Descriptor.FullName, Value = new ProcessDetails { ExecId = entry.ExecId }.ToByteString() };
            response.Processes.Add(info);
        }

        return response;
    }
}
