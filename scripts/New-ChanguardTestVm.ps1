<#
.SYNOPSIS
    Creates the Generation 2 Hyper-V VM that the changuard boot-loop and Verifier tests run in.

.DESCRIPTION
    1. Creates a VM from a Windows VHDX you supply (a differencing disk over it by default, so
       your VHDX is never written; -CopyVhdx makes an independent copy) or from an install ISO
       (a new empty VHDX; you install Windows through the VM console while the script waits).
    2. Generation 2, Secure Boot OFF (test-signed kernel drivers do not load with Secure Boot
       on, whatever certificates are trusted), static memory, Standard checkpoints, automatic
       checkpoints off.
    3. Inside the guest over PowerShell Direct: `bcdedit /set testsigning on`, optional KDNET
       kernel debugging (`bcdedit /debug on` + `bcdedit /dbgsettings net hostip:... port:...`),
       crash dumps configured (kernel dump + minidump, AutoReboot on, dumps kept), sleep off,
       optionally Windows Update disabled.
    4. Reboots, verifies test signing is active, shuts the VM down and takes the checkpoint
       named -CheckpointName ('clean' by default). Every later test restores it.

    Requirements: elevated PowerShell on a Hyper-V host (Windows 10/11 Pro/Enterprise or
    Windows Server 2016+); the guest is Windows 10/11 or Server 2016+ with a local
    administrator account matching -GuestCredential (PowerShell Direct needs one).

.PARAMETER VMName
    Name of the new VM. Refused if a VM of that name exists, unless -Force.

.PARAMETER VhdxPath
    A bootable Windows VHDX (already past OOBE, with the account in -GuestCredential).

.PARAMETER IsoPath
    A Windows installation ISO. The script creates an empty disk, boots the ISO, and waits
    up to -InstallTimeoutSeconds for you to finish setup in the VM console (vmconnect) and
    create the account given in -GuestCredential.

.PARAMETER GuestCredential
    Local administrator of the guest, e.g. (Get-Credential .\Administrator).

.PARAMETER CopyVhdx
    Copy -VhdxPath instead of creating a differencing disk over it.

.PARAMETER VMPath
    Where the VM and its disk live. Default: the Hyper-V host's VirtualMachinePath.

.PARAMETER SwitchName
    Virtual switch to connect. Default: 'Default Switch' when it exists, else none
    (PowerShell Direct needs no network; KDNET does).

.PARAMETER MemoryStartupBytes
    Static memory size in bytes. Default 4 GiB (4294967296).

.PARAMETER ProcessorCount
    Virtual processors. Default 2.

.PARAMETER NewDiskSizeBytes
    Size in bytes of the empty disk created for -IsoPath. Default 64 GiB (68719476736).

.PARAMETER KdnetHostIp
    Enables KDNET kernel debugging towards this host IP (the machine running WinDbg).

.PARAMETER KdnetPort
    KDNET port, 49152-65535. Default 50000.

.PARAMETER KdnetKey
    KDNET key (four dot-separated words of [0-9a-z]). Omit to let bcdedit generate one; the
    key is printed and returned.

.PARAMETER DumpType
    Kernel (default), Complete, Automatic or Small. Minidumps are written in every mode.

.PARAMETER DisableWindowsUpdate
    Disable the Windows Update service in the guest so it does not reboot mid-test.

.PARAMETER CheckpointName
    Name of the checkpoint taken at the end. Default 'clean'.

.PARAMETER InstallTimeoutSeconds
    How long to wait for PowerShell Direct on first boot. Default 1800 (VHDX) is plenty; an
    ISO install done by hand may need more.

.PARAMETER Force
    Remove an existing VM with the same name first (its disks are not deleted).

.EXAMPLE
    $cred = Get-Credential .\Administrator
    .\scripts\New-ChanguardTestVm.ps1 -VMName changuard-test -VhdxPath D:\images\win11.vhdx -GuestCredential $cred

.EXAMPLE
    .\scripts\New-ChanguardTestVm.ps1 -VMName changuard-test -VhdxPath D:\images\win11.vhdx -GuestCredential $cred -KdnetHostIp 192.168.1.10 -WhatIf

.NOTES
    Part of the changuard Windows test kit; see docs/TESTING-ON-WINDOWS.md.
#>
[CmdletBinding(SupportsShouldProcess = $true, DefaultParameterSetName = 'Vhdx')]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')]
    [string]$VMName,

    [Parameter(Mandatory = $true, ParameterSetName = 'Vhdx')]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$VhdxPath,

    [Parameter(Mandatory = $true, ParameterSetName = 'Iso')]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$IsoPath,

    [Parameter(Mandatory = $true)]
    [pscredential]$GuestCredential,

    [Parameter(ParameterSetName = 'Vhdx')]
    [switch]$CopyVhdx,

    [string]$VMPath,

    [string]$SwitchName,

    # 2 GiB .. 256 GiB, default 4 GiB (literal byte counts: no KB/MB/GB suffixes, see check_ps.py).
    [ValidateRange(2147483648, 274877906944)]
    [int64]$MemoryStartupBytes = 4294967296,

    [ValidateRange(1, 64)]
    [int]$ProcessorCount = 2,

    [Parameter(ParameterSetName = 'Iso')]
    # 32 GiB .. 2 TiB, default 64 GiB.
    [ValidateRange(34359738368, 2199023255552)]
    [int64]$NewDiskSizeBytes = 68719476736,

    [ValidatePattern('^\d{1,3}(\.\d{1,3}){3}$')]
    [string]$KdnetHostIp,

    [ValidateRange(49152, 65535)]
    [int]$KdnetPort = 50000,

    [ValidatePattern('^[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+$')]
    [string]$KdnetKey,

    [ValidateSet('Kernel', 'Complete', 'Automatic', 'Small')]
    [string]$DumpType = 'Kernel',

    [switch]$DisableWindowsUpdate,

    [ValidateNotNullOrEmpty()]
    [string]$CheckpointName = 'clean',

    [ValidateRange(60, 86400)]
    [int]$InstallTimeoutSeconds = 1800,

    [switch]$Force
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force

Assert-ChanguardHyperVHost

$existing = Get-VM -Name $VMName -ErrorAction SilentlyContinue
if ($null -ne $existing -and -not $Force) {
    throw "A VM named '$VMName' already exists. Pick another -VMName or pass -Force to remove it (its disks are kept)."
}
if ($KdnetKey -and -not $KdnetHostIp) {
    throw '-KdnetKey needs -KdnetHostIp.'
}

if (-not $VMPath) { $VMPath = (Get-VMHost).VirtualMachinePath }
if (-not $PSBoundParameters.ContainsKey('SwitchName')) {
    $default = Get-VMSwitch -Name 'Default Switch' -ErrorAction SilentlyContinue
    if ($null -ne $default) { $SwitchName = 'Default Switch' }
}
if ($KdnetHostIp -and -not $SwitchName) {
    throw 'KDNET needs a network: pass -SwitchName (a switch that reaches -KdnetHostIp).'
}

$vmDir = Join-Path $VMPath $VMName
$diskDir = Join-Path $vmDir 'Virtual Hard Disks'
$diskPath = Join-Path $diskDir "$VMName.vhdx"
$GiB = [int64]1073741824
$dumpCodes = @{ Complete = 1; Kernel = 2; Small = 3; Automatic = 7 }

$plan = @(
    "VM '$VMName' (Generation 2, $([int]($MemoryStartupBytes / $GiB)) GB, $ProcessorCount vCPU, Secure Boot off) in $vmDir",
    "disk $diskPath"
)
if ($PSCmdlet.ParameterSetName -eq 'Vhdx') {
    if ($CopyVhdx) { $plan += "copied from $VhdxPath" } else { $plan += "differencing over $VhdxPath (do not modify that file afterwards)" }
} else {
    $plan += "new $([int]($NewDiskSizeBytes / $GiB)) GB disk, boot from $IsoPath"
}
$plan += "guest: testsigning on; crash dump $DumpType; checkpoint '$CheckpointName'"
if ($KdnetHostIp) { $plan += "guest: KDNET to ${KdnetHostIp}:$KdnetPort" }

if (-not $PSCmdlet.ShouldProcess(($plan -join '; '), 'Create changuard test VM')) {
    return
}

if ($null -ne $existing) {
    Write-ChanguardLog "Removing existing VM '$VMName' (-Force); its disks are left on disk." -Level Warn
    if ($existing.State -ne 'Off') { Stop-VM -Name $VMName -TurnOff -Force }
    Remove-VM -Name $VMName -Force
}

Write-ChanguardLog "Creating disk $diskPath" -Level Step
if (Test-Path -LiteralPath $diskPath) {
    throw "Disk $diskPath already exists; remove it or choose another -VMName/-VMPath."
}
New-Item -ItemType Directory -Path $diskDir -Force | Out-Null
if ($PSCmdlet.ParameterSetName -eq 'Vhdx') {
    if ($CopyVhdx) {
        Copy-Item -LiteralPath $VhdxPath -Destination $diskPath
    } else {
        New-VHD -Path $diskPath -ParentPath (Resolve-ChanguardPath -Path $VhdxPath) -Differencing | Out-Null
    }
} else {
    New-VHD -Path $diskPath -SizeBytes $NewDiskSizeBytes -Dynamic | Out-Null
}

Write-ChanguardLog "Creating VM '$VMName'" -Level Step
$newVm = @{
    Name = $VMName
    Generation = 2
    MemoryStartupBytes = $MemoryStartupBytes
    VHDPath = $diskPath
    Path = $VMPath
}
if ($SwitchName) { $newVm['SwitchName'] = $SwitchName }
New-VM @newVm | Out-Null
Set-VMProcessor -VMName $VMName -Count $ProcessorCount
Set-VMMemory -VMName $VMName -DynamicMemoryEnabled $false
Set-VMFirmware -VMName $VMName -EnableSecureBoot Off
$setVm = @{ Name = $VMName; CheckpointType = 'Standard' }
if ((Get-Command Set-VM).Parameters.ContainsKey('AutomaticCheckpointsEnabled')) {
    $setVm['AutomaticCheckpointsEnabled'] = $false
}
Set-VM @setVm
try {
    # Not needed by the kit (PowerShell Direct does the copying), handy for Copy-VMFile.
    Get-VMIntegrationService -VMName $VMName | Where-Object { $_.Name -eq 'Guest Service Interface' } |
        Enable-VMIntegrationService
} catch {
    Write-ChanguardLog "Could not enable Guest Service Interface: $($_.Exception.Message)" -Level Warn
}

if ($PSCmdlet.ParameterSetName -eq 'Iso') {
    Add-VMDvdDrive -VMName $VMName -Path (Resolve-ChanguardPath -Path $IsoPath)
    Set-VMFirmware -VMName $VMName -FirstBootDevice (Get-VMDvdDrive -VMName $VMName)
    Write-ChanguardLog ("Starting the VM from the ISO. Open its console (vmconnect localhost '$VMName'), install Windows, " +
        "and create the local administrator '$($GuestCredential.UserName)'. Waiting up to $InstallTimeoutSeconds s.") -Level Step
} else {
    Write-ChanguardLog "Starting the VM; waiting up to $InstallTimeoutSeconds s for PowerShell Direct." -Level Step
}
Start-VM -Name $VMName

$boot = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 30 -TimeoutSeconds $InstallTimeoutSeconds
$session = $boot.Session
$kdKey = $null
try {
    Write-ChanguardLog 'Configuring the guest: test signing, crash dumps, power, debugging' -Level Step
    $guestArgs = @($dumpCodes[$DumpType], [bool]$DisableWindowsUpdate, [string]$KdnetHostIp, $KdnetPort, [string]$KdnetKey)
    $kdKey = Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $guestArgs -ScriptBlock {
        param([int]$dumpCode, [bool]$disableWu, [string]$kdHost, [int]$kdPort, [string]$kdKey)
        Invoke-GuestNative -FilePath 'bcdedit.exe' -ArgumentList @('/set', 'testsigning', 'on') | Out-Null

        $cc = 'HKLM:\SYSTEM\CurrentControlSet\Control\CrashControl'
        Set-ItemProperty -LiteralPath $cc -Name CrashDumpEnabled -Value $dumpCode -Type DWord
        Set-ItemProperty -LiteralPath $cc -Name AutoReboot -Value 1 -Type DWord
        Set-ItemProperty -LiteralPath $cc -Name AlwaysKeepMemoryDump -Value 1 -Type DWord
        Set-ItemProperty -LiteralPath $cc -Name MinidumpDir -Value '%SystemRoot%\Minidump' -Type ExpandString
        Set-ItemProperty -LiteralPath $cc -Name DumpFile -Value '%SystemRoot%\MEMORY.DMP' -Type ExpandString
        Set-ItemProperty -LiteralPath $cc -Name LogEvent -Value 1 -Type DWord

        Invoke-GuestNative -FilePath 'powercfg.exe' -ArgumentList @('/change', 'standby-timeout-ac', '0') | Out-Null
        Invoke-GuestNative -FilePath 'powercfg.exe' -ArgumentList @('/change', 'monitor-timeout-ac', '0') | Out-Null

        if ($disableWu) {
            Stop-Service -Name wuauserv -Force -ErrorAction SilentlyContinue
            Set-Service -Name wuauserv -StartupType Disabled
        }

        $key = $null
        if ($kdHost) {
            Invoke-GuestNative -FilePath 'bcdedit.exe' -ArgumentList @('/debug', 'on') | Out-Null
            $dbg = @('/dbgsettings', 'net', "hostip:$kdHost", "port:$kdPort")
            if ($kdKey) { $dbg += "key:$kdKey" } else { $dbg += 'newkey' }
            $r = Invoke-GuestNative -FilePath 'bcdedit.exe' -ArgumentList $dbg
            if ($kdKey) {
                $key = $kdKey
            } elseif ($r.Output -match 'Key=([0-9a-z.]+)') {
                $key = $Matches[1]
            } else {
                $key = "(see 'bcdedit /dbgsettings' in the guest): $($r.Output)"
            }
        }
        $key
    }
} finally {
    Remove-PSSession -Session $session -ErrorAction SilentlyContinue
}

if ($PSCmdlet.ParameterSetName -eq 'Iso') {
    # Installed: boot from the disk from now on, drop the ISO.
    $dvd = Get-VMDvdDrive -VMName $VMName
    Set-VMFirmware -VMName $VMName -FirstBootDevice (Get-VMHardDiskDrive -VMName $VMName | Select-Object -First 1)
    $dvd | Remove-VMDvdDrive
}

Write-ChanguardLog 'Rebooting so test signing takes effect' -Level Step
$boot = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds 30 -TimeoutSeconds 900
try {
    $bcd = Invoke-Command -Session $boot.Session -ErrorAction Stop -ScriptBlock {
        (Invoke-GuestNative -FilePath 'bcdedit.exe' -ArgumentList @('/enum', '{current}')).Output
    }
    if ($bcd -notmatch 'testsigning\s+Yes') {
        throw "Test signing is not on after the reboot (is Secure Boot really off?). bcdedit says:`n$bcd"
    }
    Write-ChanguardLog 'Test signing is on.' -Level Pass
} finally {
    Remove-PSSession -Session $boot.Session -ErrorAction SilentlyContinue
}

Write-ChanguardLog "Shutting down and taking checkpoint '$CheckpointName'" -Level Step
Save-ChanguardCheckpoint -VMName $VMName -CheckpointName $CheckpointName -Confirm:$false

if ($kdKey) {
    Write-ChanguardLog "KDNET: on the debugger host run: windbg -k net:port=$KdnetPort,key=$kdKey" -Level Step
}
[pscustomobject]@{
    VMName = $VMName
    Disk = $diskPath
    Checkpoint = $CheckpointName
    KdnetHostIp = $KdnetHostIp
    KdnetPort = $KdnetPort
    KdnetKey = $kdKey
}
