<#
.SYNOPSIS
    Installs the changuard driver package, its configuration and channel files into the test VM.

.DESCRIPTION
    Over PowerShell Direct (New-PSSession -VMName, Copy-Item -ToSession):
    1. copies the package (changuard.sys, changuard.inf, changuard.cat, the test certificate)
       to <GuestToolsDirectory>\package and the CLI to <GuestToolsDirectory>\bin\changuard.exe;
    2. imports the test certificate into LocalMachine\Root and LocalMachine\TrustedPublisher;
    3. installs changuard as a KMDF non-PnP kernel service named `changuard`, start type 1
       (system start), by -InstallMethod:
         ScCreate          (default) copies changuard.sys to %SystemRoot%\System32\drivers and
                           runs `sc.exe create changuard type= kernel start= system ...`
                           (or `sc.exe config` when the service exists). Needs only the
                           test-signed .sys.
         PnpUtil           `pnputil /add-driver changuard.inf /install`: for a primitive-driver
                           INF (DefaultInstall, no Models section; Windows 10 1903+).
         InfDefaultInstall `rundll32 setupapi.dll,InstallHinfSection <InfSection> 132 changuard.inf`
                           for a legacy DefaultInstall INF.
    4. writes HKLM\SYSTEM\CurrentControlSet\Services\changuard\Parameters: ContentDirectory
       (REG_SZ), Policy (REG_SZ Latest|NMinus1|Pinned), PinnedVersion (REG_QWORD),
       MaxTrialBoots (REG_DWORD), HealthWindowSeconds (REG_DWORD), TestHooks (REG_DWORD),
       MachineId (REG_BINARY, 16 random bytes; written only if absent, so the machine keeps
       its rollout ring across reinstalls; -MachineId sets it), RolloutDelayHours (REG_DWORD,
       only with -RolloutDelayHours); and registers the System event log source
       (EventLog\System\changuard: EventMessageFile IoLogMsg.dll, TypesSupported 7), which the
       INF does for the INF install methods and ScCreate does not;
    5. copies the channel files given in -ContentFile into the content directory (file names
       are passed through unchanged: C-<channel:8 digits>-<version:8 digits>.chan, see
       docs/FORMAT.md);
    6. starts the service (unless -NoStart) and prints `changuard driver status --json`.

    Configuration is read by the driver at load, so values written here apply from this
    start (or the next boot, with -NoStart).

.PARAMETER VMName
    The test VM (made by New-ChanguardTestVm.ps1). It must be running.

.PARAMETER GuestCredential
    Guest local administrator.

.PARAMETER PackagePath
    The package directory built by `cargo make` in driver/: target\<profile>\changuard_package.

.PARAMETER CliPath
    changuard.exe for the guest. Default: found next to / above the package or in
    target\release|debug of this repository.

.PARAMETER CertificatePath
    The test certificate. Default: the first *.cer in the package (WDRLocalTestCert.cer).

.PARAMETER InstallMethod
    ScCreate (default), PnpUtil or InfDefaultInstall; see the description.

.PARAMETER InfSection
    INF section for InfDefaultInstall. Default 'DefaultInstall.NTamd64' (inf/changuard.inx decorates it).

.PARAMETER ContentDirectory
    Guest directory that holds channel files. Default C:\ProgramData\changuard\content.

.PARAMETER ContentDirectoryRegistryValue
    What to write into Parameters\ContentDirectory, if the driver wants another spelling of
    the same directory (e.g. an NT path \??\C:\ProgramData\changuard\content). Default: the
    value of -ContentDirectory.

.PARAMETER Policy
    Latest (default), NMinus1 or Pinned.

.PARAMETER PinnedVersion
    Required with -Policy Pinned; written as REG_QWORD.

.PARAMETER MaxTrialBoots
    Crashes tolerated per new version before it is quarantined. Default 1: Windows starts
    WinRE after 2 consecutive failed boots, so anything above 1 risks WinRE.

.PARAMETER HealthWindowSeconds
    Uptime without fault after which a version on trial is promoted to LKG. Default 60 for
    tests (short, so the matrix runs fast).

.PARAMETER TestHooks
    Write TestHooks=1 (only has an effect on a driver built with the `test-hooks` feature;
    such a driver bugchecks 0xC4A6D000 on poison content while on trial).

.PARAMETER MachineId
    32 hex digits written to Parameters\MachineId (REG_BINARY, 16 bytes): the machine's
    identity for rollout rings. Default: keep the existing value, or write 16 random bytes.

.PARAMETER RolloutDelayHours
    Written to Parameters\RolloutDelayHours (REG_DWORD): this customer's delay after its
    ring opens. Default: not written (the driver's default, 0).

.PARAMETER ContentFile
    Host paths of channel files to copy into the content directory.

.PARAMETER ClearContent
    Delete every file in the guest content directory before copying -ContentFile.

.PARAMETER NoStart
    Do not start the service now (it starts at the next boot: start type is system).

.PARAMETER GuestToolsDirectory
    Guest directory for the package and the CLI. Default C:\changuard.

.PARAMETER TimeoutSeconds
    Bound for connecting to the guest. Default 300.

.EXAMPLE
    .\scripts\Install-ChanguardDriver.ps1 -VMName changuard-test -GuestCredential $cred `
        -PackagePath .\driver\target\debug\changuard_package -ContentFile .\kit\C-00000291-00000006.chan

.EXAMPLE
    .\scripts\Install-ChanguardDriver.ps1 -VMName changuard-test -GuestCredential $cred `
        -PackagePath .\driver\target\debug\changuard_package -Policy Pinned -PinnedVersion 6 -WhatIf

.NOTES
    Part of the changuard Windows test kit; see docs/TESTING-ON-WINDOWS.md.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string]$VMName,

    [Parameter(Mandatory = $true)]
    [pscredential]$GuestCredential,

    [Parameter(Mandatory = $true)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$PackagePath,

    [string]$CliPath,

    [string]$CertificatePath,

    [ValidateSet('ScCreate', 'PnpUtil', 'InfDefaultInstall')]
    [string]$InstallMethod = 'ScCreate',

    [ValidateNotNullOrEmpty()]
    [string]$InfSection = 'DefaultInstall.NTamd64',

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$ContentDirectory = 'C:\ProgramData\changuard\content',

    [string]$ContentDirectoryRegistryValue,

    [ValidateSet('Latest', 'NMinus1', 'Pinned')]
    [string]$Policy = 'Latest',

    [ValidateRange(0, [int64]::MaxValue)]
    [int64]$PinnedVersion = 0,

    [ValidateRange(1, 16)]
    [int]$MaxTrialBoots = 1,

    [ValidateRange(1, 86400)]
    [int]$HealthWindowSeconds = 60,

    [switch]$TestHooks,

    [ValidatePattern('^[0-9A-Fa-f]{32}$')]
    [string]$MachineId,

    [ValidateRange(0, 8760)]
    [int]$RolloutDelayHours = 0,

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string[]]$ContentFile = @(),

    [switch]$ClearContent,

    [switch]$NoStart,

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$GuestToolsDirectory = 'C:\changuard',

    [ValidateRange(10, 7200)]
    [int]$TimeoutSeconds = 300
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force

if ($Policy -eq 'Pinned' -and -not $PSBoundParameters.ContainsKey('PinnedVersion')) {
    throw '-Policy Pinned needs -PinnedVersion.'
}
if ($MaxTrialBoots -gt 1) {
    Write-ChanguardLog "MaxTrialBoots=$MaxTrialBoots: Windows enters WinRE after 2 consecutive failed boots; values above 1 can end in WinRE." -Level Warn
}
if (-not $ContentDirectoryRegistryValue) { $ContentDirectoryRegistryValue = $ContentDirectory }

Assert-ChanguardHyperVHost
$pkg = Find-ChanguardPackage -PackagePath $PackagePath -CliPath $CliPath -CertificatePath $CertificatePath
if ($InstallMethod -ne 'ScCreate' -and $null -eq $pkg.Inf) {
    throw "-InstallMethod $InstallMethod needs changuard.inf in $($pkg.Directory)."
}

$guestPackage = Join-Path $GuestToolsDirectory 'package'
$guestBin = Join-Path $GuestToolsDirectory 'bin'
$guestCli = Join-Path $guestBin 'changuard.exe'
$settings = [ordered]@{
    ContentDirectory = $ContentDirectoryRegistryValue
    Policy = $Policy
    PinnedVersion = $PinnedVersion
    MaxTrialBoots = $MaxTrialBoots
    HealthWindowSeconds = $HealthWindowSeconds
    TestHooks = [int][bool]$TestHooks
    MachineId = $(if ($MachineId) { $MachineId.ToLowerInvariant() } else { 'keep or random' })
    RolloutDelayHours = $(if ($PSBoundParameters.ContainsKey('RolloutDelayHours')) { $RolloutDelayHours } else { 'not written' })
}
$what = "install changuard ($InstallMethod) from $($pkg.Directory); Parameters: " +
    (($settings.Keys | ForEach-Object { "$_=$($settings[$_])" }) -join ', ') +
    "; content: $(@($ContentFile | ForEach-Object { Split-Path -Leaf $_ }) -join ', ')"
if (-not $PSCmdlet.ShouldProcess("VM '$VMName'", $what)) {
    return
}

$session = New-ChanguardGuestSession -VMName $VMName -Credential $GuestCredential -TimeoutSeconds $TimeoutSeconds
try {
    Write-ChanguardLog "Copying the package and the CLI into the guest ($GuestToolsDirectory)" -Level Step
    $packageFiles = @($pkg.Sys, $pkg.Certificate)
    if ($pkg.Inf) { $packageFiles += $pkg.Inf }
    if ($pkg.Cat) { $packageFiles += $pkg.Cat }
    Copy-ChanguardToGuest -Session $session -Path $packageFiles -GuestDirectory $guestPackage -Confirm:$false
    Copy-ChanguardToGuest -Session $session -Path @($pkg.Cli) -GuestDirectory $guestBin -GuestFileName 'changuard.exe' -Confirm:$false

    Write-ChanguardLog 'Trusting the test certificate (Root, TrustedPublisher)' -Level Step
    $guestCert = Join-Path $guestPackage (Split-Path -Leaf $pkg.Certificate)
    Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $guestCert -ScriptBlock {
        param($cer)
        foreach ($store in @('Cert:\LocalMachine\Root', 'Cert:\LocalMachine\TrustedPublisher')) {
            Import-Certificate -FilePath $cer -CertStoreLocation $store | Out-Null
        }
    }

    Write-ChanguardLog "Installing the service 'changuard' ($InstallMethod, system start)" -Level Step
    $installArgs = @($InstallMethod, $guestPackage, $InfSection)
    $installLog = Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $installArgs -ScriptBlock {
        param($method, $pkgDir, $section)
        $log = @()
        $svcKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\changuard'
        $exists = Test-Path -LiteralPath $svcKey
        if ($exists) {
            # Stop a running instance first; a driver that cannot unload is replaced at the next boot.
            $stop = Invoke-GuestNative -FilePath 'sc.exe' -ArgumentList @('stop', 'changuard') -AnyExitCode
            $log += "sc stop: exit $($stop.ExitCode)"
        }
        switch ($method) {
            'ScCreate' {
                $target = Join-Path $env:SystemRoot 'System32\drivers\changuard.sys'
                try {
                    Copy-Item -LiteralPath (Join-Path $pkgDir 'changuard.sys') -Destination $target -Force
                } catch {
                    throw "Could not replace $target (driver still loaded and not unloadable?): $($_.Exception.Message). Reboot the guest and retry."
                }
                $scArgs = @('type=', 'kernel', 'start=', 'system', 'error=', 'normal',
                    'binPath=', 'System32\drivers\changuard.sys', 'DisplayName=', 'changuard')
                if ($exists) {
                    $r = Invoke-GuestNative -FilePath 'sc.exe' -ArgumentList (@('config', 'changuard') + $scArgs)
                } else {
                    $r = Invoke-GuestNative -FilePath 'sc.exe' -ArgumentList (@('create', 'changuard') + $scArgs)
                }
                $log += $r.Output
            }
            'PnpUtil' {
                $r = Invoke-GuestNative -FilePath 'pnputil.exe' -ArgumentList @('/add-driver', (Join-Path $pkgDir 'changuard.inf'), '/install') -AllowedExitCodes @(0, 3010)
                $log += $r.Output
            }
            'InfDefaultInstall' {
                $inf = Join-Path $pkgDir 'changuard.inf'
                # rundll32 returns before the work is done and reports nothing: check the result below.
                $p = Start-Process -FilePath 'rundll32.exe' -ArgumentList @('setupapi.dll,InstallHinfSection', $section, '132', $inf) -PassThru -Wait
                $log += "rundll32 InstallHinfSection $section exit $($p.ExitCode)"
            }
        }
        if (-not (Test-Path -LiteralPath $svcKey)) {
            throw "The service key $svcKey does not exist after '$method': the INF did not create the service. Log: $($log -join ' | ')"
        }
        $start = (Get-ItemProperty -LiteralPath $svcKey).Start
        if ($start -ne 1) {
            $log += "warning: service Start is $start, expected 1 (system start); setting it"
            Set-ItemProperty -LiteralPath $svcKey -Name Start -Value 1 -Type DWord
        }
        $log
    }
    foreach ($line in @($installLog)) { if ($line) { Write-ChanguardLog "  $line" } }

    Write-ChanguardLog 'Writing Parameters' -Level Step
    Invoke-Command -Session $session -ErrorAction Stop -ArgumentList @($settings, $ContentDirectory, [bool]$ClearContent) -ScriptBlock {
        param($s, $contentDir, $clear)
        $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\changuard\Parameters'
        if (-not (Test-Path -LiteralPath $key)) { New-Item -Path $key -Force | Out-Null }
        New-ItemProperty -LiteralPath $key -Name ContentDirectory -PropertyType String -Value ([string]$s['ContentDirectory']) -Force | Out-Null
        New-ItemProperty -LiteralPath $key -Name Policy -PropertyType String -Value ([string]$s['Policy']) -Force | Out-Null
        New-ItemProperty -LiteralPath $key -Name PinnedVersion -PropertyType QWord -Value ([int64]$s['PinnedVersion']) -Force | Out-Null
        New-ItemProperty -LiteralPath $key -Name MaxTrialBoots -PropertyType DWord -Value ([int]$s['MaxTrialBoots']) -Force | Out-Null
        New-ItemProperty -LiteralPath $key -Name HealthWindowSeconds -PropertyType DWord -Value ([int]$s['HealthWindowSeconds']) -Force | Out-Null
        New-ItemProperty -LiteralPath $key -Name TestHooks -PropertyType DWord -Value ([int]$s['TestHooks']) -Force | Out-Null
        # MachineId (REG_BINARY, 16 bytes): the machine's identity for rollout rings. Kept
        # when present (a reinstall must not move the machine to another ring).
        $id = [string]$s['MachineId']
        $existing = (Get-ItemProperty -LiteralPath $key -Name MachineId -ErrorAction SilentlyContinue).MachineId
        if ($id -match '^[0-9a-f]{32}$') {
            $bytes = [byte[]]::new(16)
            for ($i = 0; $i -lt 16; $i++) { $bytes[$i] = [Convert]::ToByte($id.Substring(2 * $i, 2), 16) }
            New-ItemProperty -LiteralPath $key -Name MachineId -PropertyType Binary -Value $bytes -Force | Out-Null
        } elseif ($null -eq $existing -or @($existing).Count -ne 16) {
            $bytes = [byte[]]::new(16)
            [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
            New-ItemProperty -LiteralPath $key -Name MachineId -PropertyType Binary -Value $bytes -Force | Out-Null
        }
        if ($s['RolloutDelayHours'] -is [int]) {
            New-ItemProperty -LiteralPath $key -Name RolloutDelayHours -PropertyType DWord -Value ([int]$s['RolloutDelayHours']) -Force | Out-Null
        }
        # The System event log source the driver's operator events are written under
        # (inf/changuard.inx registers it for the INF install methods; sc.exe does not).
        $src = 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\System\changuard'
        if (-not (Test-Path -LiteralPath $src)) { New-Item -Path $src -Force | Out-Null }
        New-ItemProperty -LiteralPath $src -Name EventMessageFile -PropertyType ExpandString -Value '%SystemRoot%\System32\IoLogMsg.dll' -Force | Out-Null
        New-ItemProperty -LiteralPath $src -Name TypesSupported -PropertyType DWord -Value 7 -Force | Out-Null
        if (-not (Test-Path -LiteralPath $contentDir)) { New-Item -ItemType Directory -Path $contentDir -Force | Out-Null }
        if ($clear) { Get-ChildItem -LiteralPath $contentDir -File | Remove-Item -Force }
    }

    if (@($ContentFile).Count -gt 0) {
        Write-ChanguardLog "Copying $(@($ContentFile).Count) channel file(s) into $ContentDirectory" -Level Step
        Copy-ChanguardToGuest -Session $session -Path $ContentFile -GuestDirectory $ContentDirectory -Confirm:$false
    }

    if ($NoStart) {
        Write-ChanguardLog 'Not starting the service (-NoStart): it loads at the next boot.'
    } else {
        Write-ChanguardLog 'Starting changuard' -Level Step
        Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {
            # 1056 = already running.
            $r = Invoke-GuestNative -FilePath 'sc.exe' -ArgumentList @('start', 'changuard') -AnyExitCode
            if (@(0, 1056) -notcontains $r.ExitCode) {
                $hint = '577 = signature not trusted (test signing off? certificate?), 2 = file not found, ' +
                    '1275 = blocked by policy. See: Get-WinEvent -LogName System -MaxEvents 20'
                throw ('sc start changuard failed with {0}: {1} {2}. {3}' -f $r.ExitCode, $r.Output, $r.Error, $hint)
            }
        }
        $st = Get-ChanguardGuestStatus -Session $session -GuestCliPath $guestCli
        if ($null -eq $st.Status) {
            throw "The driver started but its status could not be read: $($st.Error)"
        }
        Write-ChanguardLog "Driver status (from $($st.Source)):"
        foreach ($raw in @(Get-ChanguardProperty -InputObject $st.Status -Name 'channels' -Default @())) {
            $c = ConvertTo-ChanguardChannelView -Channel $raw
            $fields = @('channel', 'active_version', 'active_source', 'lkg_version', 'quarantined', 'trial_attempt', 'last_rejection') |
                ForEach-Object { Format-ChanguardValue (Get-ChanguardProperty -InputObject $c -Name $_) }
            Write-ChanguardLog ('  channel {0}: active {1} ({2}), lkg {3}, quarantined {4}, trial attempt {5}, last rejection {6}' -f $fields)
        }
        $st.Status
    }
} finally {
    Remove-PSSession -Session $session -ErrorAction SilentlyContinue
}
