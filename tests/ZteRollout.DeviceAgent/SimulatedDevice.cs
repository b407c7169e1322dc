using System.Text.Json;
using ZteRollout.Device.V1;

namespace ZteRollout.DeviceAgent;

/// <summary>
/// A simulated A/B device kept in one directory: <c>slot_a.img</c>, <c>slot_b.img</c>, <c>state.json</c>
/// (boot slot, version per slot, security floor, the package being downloaded) and <c>download.part</c> (bytes held so far).
/// Everything lives on disk so a new agent on the same directory resumes where an old one stopped,
/// exactly like a device that lost power.
/// </summary>
public sealed class SimulatedDevice
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private DeviceState _state;

    private SimulatedDevice(string directory, DeviceState state)
    {
        DirectoryPath = directory;
        _state = state;
    }

    public string DirectoryPath { get; }

    public string StatePath => Path.Combine(DirectoryPath, "state.json");

    public string DownloadPath => Path.Combine(DirectoryPath, "download.part");

    public Slot ActiveSlot => ParseSlot(_state.ActiveSlot);

    public Slot InactiveSlot => ActiveSlot == Slot.A ? Slot.B : Slot.A;

    /// <summary>The version of the slot the device booted from.</summary>
    public string CurrentVersion =>
        SlotVersion(ActiveSlot) ?? throw new InvalidOperationException($"Active slot {ActiveSlot} of {DirectoryPath} holds no version.");

    /// <summary>
    /// The anti-rollback floor: the highest security version the device has booted successfully. A real device keeps it
    /// in tamper-evident storage (Android's rollback index); packages signed below it are refused.
    /// </summary>
    public uint SecurityFloor => _state.SecurityFloor;

    /// <summary>The package <c>download.part</c> belongs to, when a download is pending.</summary>
    public PendingDownload? Pending => _state.Pending;

    /// <summary>
    /// Lays out a fresh device running <paramref name="version"/> from slot A, holding <paramref name="image"/> (a
    /// placeholder when null; a delta in <c>zstd-patch-1</c> format needs the real base image).
    /// </summary>
    public static SimulatedDevice Create(string directory, string version, byte[]? image = null)
    {
        Directory.CreateDirectory(directory);
        var device = new SimulatedDevice(directory, new DeviceState { ActiveSlot = "A", SlotAVersion = version });
        if (image is null)
        {
            File.WriteAllText(device.SlotPath(Slot.A), $"simulated image {version}\n");
        }
        else
        {
            File.WriteAllBytes(device.SlotPath(Slot.A), image);
        }

        File.WriteAllBytes(device.SlotPath(Slot.B), []);
        File.Delete(device.DownloadPath);
        device.Save();
        return device;
    }

    /// <summary>Opens a device directory made by <see cref="Create"/>.</summary>
    public static SimulatedDevice Open(string directory)
    {
        var path = Path.Combine(directory, "state.json");
        var state = JsonSerializer.Deserialize<DeviceState>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty.");
        return new SimulatedDevice(directory, state);
    }

    public string SlotPath(Slot slot) => Path.Combine(DirectoryPath, slot == Slot.A ? "slot_a.img" : "slot_b.img");

    public string? SlotVersion(Slot slot) => slot == Slot.A ? _state.SlotAVersion : _state.SlotBVersion;

    /// <summary>
    /// Gets <c>download.part</c> ready for the package and returns how many bytes of it are already held.
    /// Bytes of another package (or more bytes than the package has) are discarded: resuming is only sound
    /// for the very same bytes, which the SHA-256 in the signed manifest identifies.
    /// </summary>
    public long BeginDownload(string packageId, string sha256, long size)
    {
        var pending = new PendingDownload(packageId, sha256, size);
        var held = File.Exists(DownloadPath) ? new FileInfo(DownloadPath).Length : 0;
        if (_state.Pending != pending || held > size)
        {
            File.Delete(DownloadPath);
            held = 0;
        }

        File.Open(DownloadPath, FileMode.OpenOrCreate).Dispose();
        _state = _state with { Pending = pending };
        Save();
        return held;
    }

    /// <summary>Opens <c>download.part</c> for appending the next bytes.</summary>
    public FileStream OpenDownloadForAppend() =>
        new(DownloadPath, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024, useAsync: true);

    /// <summary>Forgets the pending download, e.g. after a hash mismatch, so the next offer starts from byte 0.</summary>
    public void DiscardDownload()
    {
        File.Delete(DownloadPath);
        _state = _state with { Pending = null };
        Save();
    }

    /// <summary>Failure injection: flips one bit of the downloaded bytes, as a bad flash cell would.</summary>
    public void CorruptDownload()
    {
        using var file = new FileStream(DownloadPath, FileMode.Open, FileAccess.ReadWrite);
        if (file.Length == 0)
        {
            return;
        }

        var first = file.ReadByte();
        file.Position = 0;
        file.WriteByte((byte)(first ^ 0x01));
    }

    /// <summary>
    /// "Writes" the downloaded package into <paramref name="slot"/>. For a FULL package these are the image bytes;
    /// a <c>zstd-patch-1</c> delta goes through <see cref="InstallPatched"/> instead. A delta built elsewhere (no format
    /// in its manifest) is stored as it is, because only the slot switch and the reported versions matter to the server.
    /// </summary>
    public void InstallDownload(Slot slot, string version)
    {
        File.Move(DownloadPath, SlotPath(slot), overwrite: true);
        _state = slot == Slot.A
            ? _state with { SlotAVersion = version, Pending = null }
            : _state with { SlotBVersion = version, Pending = null };
        Save();
    }

    /// <summary>Where a patched image is written before it becomes a slot.</summary>
    public string PatchedPath => Path.Combine(DirectoryPath, "patched.img.part");

    /// <summary>
    /// Makes the image at <see cref="PatchedPath"/> (the active image with a delta applied, verified) the content of
    /// <paramref name="slot"/>, and forgets the downloaded delta.
    /// </summary>
    public void InstallPatched(Slot slot, string version)
    {
        File.Move(PatchedPath, SlotPath(slot), overwrite: true);
        File.Delete(DownloadPath);
        _state = slot == Slot.A
            ? _state with { SlotAVersion = version, Pending = null }
            : _state with { SlotBVersion = version, Pending = null };
        Save();
    }

    /// <summary>Makes <paramref name="slot"/> the one the device boots from.</summary>
    public void Boot(Slot slot)
    {
        _state = _state with { ActiveSlot = slot == Slot.A ? "A" : "B" };
        Save();
    }

    /// <summary>Raises the security floor after a healthy boot; it never goes down.</summary>
    public void RaiseSecurityFloor(uint securityVersion)
    {
        if (securityVersion > _state.SecurityFloor)
        {
            _state = _state with { SecurityFloor = securityVersion };
            Save();
        }
    }

    /// <summary>Marks a slot that failed its boot health check as holding nothing bootable.</summary>
    public void MarkSlotBad(Slot slot)
    {
        _state = slot == Slot.A ? _state with { SlotAVersion = null } : _state with { SlotBVersion = null };
        Save();
    }

    private static Slot ParseSlot(string text) => text switch
    {
        "A" => Slot.A,
        "B" => Slot.B,
        _ => throw new InvalidDataException($"Active slot '{text}' is neither A nor B."),
    };

    // Write-then-rename: a crash mid-write leaves the old state, never a torn file the device cannot boot from.
    private void Save()
    {
        var temp = StatePath + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(_state, Json));
        File.Move(temp, StatePath, overwrite: true);
    }

    private sealed record DeviceState
    {
        public required string ActiveSlot { get; init; }

        public string? SlotAVersion { get; init; }

        public string? SlotBVersion { get; init; }

        public uint SecurityFloor { get; init; }

        public PendingDownload? Pending { get; init; }
    }
}

/// <summary>The package whose bytes <c>download.part</c> holds.</summary>
public sealed record PendingDownload(string PackageId, string Sha256, long Size);
