namespace Hypervisor.Devices.Console;

/// <summary>Bytes a host-side character backend hands to the device it is attached to.</summary>
public delegate void CharacterReceiver(ReadOnlySpan<byte> data);

/// <summary>
/// The host end of a serial line (stdio in raw mode, a file, a socket, a test buffer). The device writes what
/// the guest transmits; the backend delivers what the host sends through the receiver the device attached.
/// </summary>
public interface ICharacterBackend
{
    /// <summary>Bytes the guest transmitted. Called on a vCPU thread, never while the device holds its lock.</summary>
    void Write(ReadOnlySpan<byte> data);

    /// <summary>
    /// Attaches (or, with null, detaches) the device end. The backend calls <paramref name="receiver"/> from any
    /// thread with host input; bytes that arrive while nothing is attached are the backend's to keep or drop.
    /// </summary>
    void SetReceiver(CharacterReceiver? receiver);
}
