using Hypervisor.Platform;
namespace Hypervisor.Boot.Acpi;

/// <summary>
/// The Fixed ACPI Description Table, revision 6 (ACPI 6.0, 5.2.9 Table 5-34): the PM1a and PM timer blocks of
/// hv's PM device, the SCI, the PIIX reset register, and the legacy devices of a PC.
/// </summary>
internal static class Fadt
{
    public const byte Revision = 6;
    public const byte MinorRevision = 0;
    public const int Length = 276;

    // IA-PC boot architecture flags (5.2.9.3): LEGACY_DEVICES | 8042.
    public const ushort BootArchLegacyDevices = 1 << 0, BootArch8042 = 1 << 1;

    // Fixed feature flags (5.2.9 Table 5-35).
    public const uint FlagWbinvd = 1 << 0, FlagProcC1 = 1 << 2, FlagSleepButton = 1 << 5, FlagResetRegSup = 1 << 10;

    /// <summary>P_LVL2_LAT above 100 and P_LVL3_LAT above 1000 say C2 and C3 are not supported.</summary>
    private const ushort NoC2Latency = 0x0FFF, NoC3Latency = 0x0FFF;

    /// <summary>CMOS register holding the century (the MC146818 NVRAM byte PCs use).</summary>
    private const byte CenturyCmosIndex = 0x32;

    public static byte[] Build(ulong facs, ulong dsdt)
    {
        var w = AcpiTable.Begin("FACP", Revision);
        w.U32((uint)facs).U32((uint)dsdt);
        w.U8(0);                        // reserved (INT_MODEL in ACPI 1.0)
        w.U8(0);                        // Preferred_PM_Profile: unspecified
        w.U16(PcPlatform.SciIrq);
        // SMI_CMD 0: there is no SMM, the platform is always in ACPI mode, so ACPI_ENABLE/DISABLE are 0 and
        // OSPM finds SCI_EN already set (5.2.9, SMI_CMD).
        w.U32(0).U8(0).U8(0).U8(0).U8(0);
        w.U32(PcPlatform.Pm1aEventBlock).U32(0);
        w.U32(PcPlatform.Pm1aControlBlock).U32(0);
        w.U32(0);                       // PM2_CNT_BLK
        w.U32(PcPlatform.PmTimerBlock);
        w.U32(0).U32(0);                // GPE0_BLK, GPE1_BLK: no general-purpose events
        w.U8(PcPlatform.Pm1EventLength).U8(PcPlatform.Pm1ControlLength).U8(0).U8(PcPlatform.PmTimerLength);
        w.U8(0).U8(0).U8(0);            // GPE0_BLK_LEN, GPE1_BLK_LEN, GPE1_BASE
        w.U8(0);                        // CST_CNT
        w.U16(NoC2Latency).U16(NoC3Latency);
        w.U16(0).U16(0);                // FLUSH_SIZE, FLUSH_STRIDE (WBINVD is supported)
        w.U8(0).U8(0);                  // DUTY_OFFSET, DUTY_WIDTH
        w.U8(0).U8(0).U8(CenturyCmosIndex);
        w.U16(BootArchLegacyDevices | BootArch8042);
        w.U8(0);
        // The power button is the fixed PM1 feature; there is no sleep button (SLP_BUTTON set means "absent").
        w.U32(FlagWbinvd | FlagProcC1 | FlagSleepButton | FlagResetRegSup);
        Gas.WriteIo(w, PcPlatform.ResetPort, 1, Gas.AccessByte);
        w.U8(PcPlatform.ResetValue);
        w.U16(0);                       // ARM_BOOT_ARCH
        w.U8(MinorRevision);
        w.U64(facs).U64(dsdt);          // X_FIRMWARE_CTRL, X_DSDT: equal to the 32-bit fields, as 5.2.9 allows
        Gas.WriteIo(w, PcPlatform.Pm1aEventBlock, PcPlatform.Pm1EventLength, Gas.AccessWord);
        w.Zeros(12);                    // X_PM1b_EVT_BLK
        Gas.WriteIo(w, PcPlatform.Pm1aControlBlock, PcPlatform.Pm1ControlLength, Gas.AccessWord);
        w.Zeros(12 * 2);                // X_PM1b_CNT_BLK, X_PM2_CNT_BLK
        Gas.WriteIo(w, PcPlatform.PmTimerBlock, PcPlatform.PmTimerLength, Gas.AccessDWord);
        w.Zeros(12 * 4);                // X_GPE0_BLK, X_GPE1_BLK, SLEEP_CONTROL_REG, SLEEP_STATUS_REG
        w.Ascii("HV", 8, '\0');         // Hypervisor Vendor Identity
        if (w.Length != Length) throw new InvalidOperationException($"FADT is {w.Length} bytes, not {Length}");
        return AcpiTable.Finish(w);
    }
}
