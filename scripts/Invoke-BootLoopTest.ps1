<#
.SYNOPSIS
    Runs the changuard boot-loop matrix (scripts/bootloop-matrix.json) in the Hyper-V test VM.

.DESCRIPTION
    For each case of the matrix (the same data the simulator's `changuard simulate
    --scenario <sim_scenario>` is checked against):
      1. restores the baseline checkpoint (built once per run from 'clean': driver installed,
         MaxTrialBoots=1, baseline content active and promoted to LKG), or 'clean' for the
         first-install case;
      2. applies the case (the matrix's `apply` keyword, implemented below):
           first-install               install driver + content on the clean VM
           deliver-file                copy the kit file into the content directory
           truncate                    copy the first half of the kit file
           flip-signature              copy the kit file with one byte flipped (-SignatureByteOffset),
                                       or a case-specific kit file as is
           poison                      test-hooks build, TestHooks=1, copy the poison kit file
           power-off-during-update     start writing the file in the guest, Stop-VM -TurnOff at half
           power-off-during-promotion  deliver, reboot, Stop-VM -TurnOff when the health window ends
           corrupt-lkg                 overwrite bytes of the LKG store files, copy a truncated kit file
           reboot-during-trial         deliver, reboot, then reboot cleanly (shutdown /r) while the
                                       content is still on trial (before the health window ends)
           deliver-with-junk           copy the kit file, and a copy with one byte flipped
                                       (-SignatureByteOffset) under the case's `junk` name
           poison-many                 test-hooks build, TestHooks=1, copy every poison kit file of the
                                       case's `content` list, reboot until the channel is stable
           deliver-records             (requires root-keys) from the rooted baseline (-RootedPackagePath:
                                       a driver built with the kit's root keys; keyring.ckr and v6's
                                       release record beside v6), copy every file of the case's
                                       `content` list (channel files, release records, halts, a
                                       keyring) and reboot once
      3. reboots (or powers on) and waits, with a timeout, for a boot that stays up for
         HealthWindowSeconds + SettleSeconds (following any bugcheck/reboot chain);
      4. reads `changuard driver status --json` (or Parameters\Status) and the guest's
         bugcheck evidence (System event 1001 from WER/BugCheck, Kernel-Power 41 with a
         bugcheck code, new minidumps) since the case started;
      5. asserts the matrix `expect`: active version and source, LKG version, quarantined
         versions, and crashes <= max_crashes (which never exceeds MaxTrialBoots); and that
         every reason name of the case's `observe` list is among the driver's recent
         decisions (`decisions` in `changuard driver status --json`; the same decisions are
         in the System event log under the source changuard, event Id = reason code);
      6. saves status/evidence per case, copies minidumps whenever there were crashes and
         MEMORY.DMP when the case failed, then restores the checkpoint.
    Writes bootloop-junit.xml and bootloop-report.md to -OutputDirectory. Exits 1 when any
    case failed or errored.

    Content kit: -ContentKitPath is a host directory of channel files built with the
    changuard CLI. For a case, <kit>\<case name>\<content> is used when it exists, else
    <kit>\<content>. Which files each case needs: docs/TESTING-ON-WINDOWS.md.

.PARAMETER VMName
    The test VM (New-ChanguardTestVm.ps1) with its 'clean' checkpoint.

.PARAMETER GuestCredential
    Guest local administrator.

.PARAMETER PackagePath
    The driver package (target\<profile>\changuard_package).

.PARAMETER TestHooksPackagePath
    A package built with the `test-hooks` feature, for the poison case. Without it the
    poison case is reported as skipped.

.PARAMETER RootedPackagePath
    A package built with the kit's root keys (CHANGUARD_ROOT_PUBKEYS), for the cases that
    require root-keys (release records: keyring, rollout, halt). Without it those cases are
    reported as skipped.

.PARAMETER ContentKitPath
    Host directory with the channel files named in the matrix (see DESCRIPTION).

.PARAMETER CliPath
    changuard.exe to copy into the guest (default: found next to the package / in target\).

.PARAMETER MatrixPath
    Default: bootloop-matrix.json next to this script.

.PARAMETER Case
    Run only these case names (default: all).

.PARAMETER OutputDirectory
    Where reports, per-case evidence and dumps go. Default .\out\bootloop-<timestamp>.

.PARAMETER CleanCheckpoint
    Checkpoint with the freshly prepared guest. Default 'clean'.

.PARAMETER ReuseBaseline
    Reuse existing baseline checkpoints instead of rebuilding them once per run. Only safe
    when the package has not changed since they were made.

.PARAMETER InstallMethod
    Passed to Install-ChanguardDriver.ps1 (ScCreate, PnpUtil, InfDefaultInstall).

.PARAMETER HealthWindowSeconds
    Written to Parameters\HealthWindowSeconds. Default 120: long enough for the host to
    reconnect before the window ends (the power-off-during-promotion case needs that).

.PARAMETER SettleSeconds
    Extra time past the health window before the outcome is read. Default 45.

.PARAMETER BootTimeoutSeconds
    Bound on each wait for a stable boot. Default 1200.

.PARAMETER SignatureByteOffset
    Byte flipped by flip-signature: >= 0 from the start, < 0 from the end. Default -1.
    Set it to a byte inside the signature per docs/FORMAT.md.

.PARAMETER PromotionCutOffsetMilliseconds
    power-off-during-promotion cuts power at boot time + HealthWindowSeconds + this offset
    (guest clock). Default 500. Sweep it (e.g. -2000, 0, 500, 2000) across runs.

.PARAMETER GuestContentDirectory
    Default C:\ProgramData\changuard\content.

.PARAMETER GuestLkgDirectory
    The driver's private LKG store, corrupted by corrupt-lkg. Default C:\Windows\changuard\lkg
    (\SystemRoot\changuard\lkg\C-<channel>.lkg in driver/src/platform.rs).

.PARAMETER GuestToolsDirectory
    Default C:\changuard (the CLI is <dir>\bin\changuard.exe).

.EXAMPLE
    .\scripts\Invoke-BootLoopTest.ps1 -VMName changuard-test -GuestCredential $cred `
        -PackagePath .\driver\target\debug\changuard_package `
        -TestHooksPackagePath .\driver\target-testhooks\debug\changuard_package -ContentKitPath .\out\kit

.EXAMPLE
    .\scripts\Invoke-BootLoopTest.ps1 -VMName changuard-test -GuestCredential $cred -PackagePath $pkg -ContentKitPath $kit -Case july-19, poison-update

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

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$TestHooksPackagePath,

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$RootedPackagePath,

    [Parameter(Mandatory = $true)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$ContentKitPath,

    [string]$CliPath,

    [string]$MatrixPath = (Join-Path $PSScriptRoot 'bootloop-matrix.json'),

    [string[]]$Case = @(),

    [string]$OutputDirectory = (Join-Path (Get-Location) ("out\bootloop-{0}" -f (Get-Date -Format 'yyyyMMdd-HHmmss'))),

    [ValidateNotNullOrEmpty()]
    [string]$CleanCheckpoint = 'clean',

    [switch]$ReuseBaseline,

    [ValidateSet('ScCreate', 'PnpUtil', 'InfDefaultInstall')]
    [string]$InstallMethod = 'ScCreate',

    [ValidateRange(10, 3600)]
    [int]$HealthWindowSeconds = 120,

    [ValidateRange(0, 3600)]
    [int]$SettleSeconds = 45,

    [ValidateRange(60, 14400)]
    [int]$BootTimeoutSeconds = 1200,

    [int64]$SignatureByteOffset = -1,

    [ValidateRange(-60000, 60000)]
    [int]$PromotionCutOffsetMilliseconds = 500,

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$GuestContentDirectory = 'C:\ProgramData\changuard\content',

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$GuestLkgDirectory = 'C:\Windows\changuard\lkg',

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$GuestToolsDirectory = 'C:\changuard'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force

$matrix = Read-ChanguardMatrix -Path $MatrixPath
$channel = [int]$matrix.channel
$cases = @($matrix.cases)
if (@($Case).Count -gt 0) {
    $knownNames = @($cases | ForEach-Object { $_.name })
    $unknown = @($Case | Where-Object { $knownNames -notcontains $_ })
    if ($unknown.Count -gt 0) {
        throw "Unknown case(s): $($unknown -join ', '). Known: $($knownNames -join ', ')"
    }
    $cases = @($cases | Where-Object { $Case -contains $_.name })
}

# Resolve every kit file up front: a missing file should fail in the first second, not after an hour.
$kit = Resolve-ChanguardPath -Path $ContentKitPath
$baselineFiles = @(@($matrix.baseline.content) | ForEach-Object { (Resolve-ChanguardContentFile -ContentKitPath $kit -FileName $_).Path })
# The rooted baseline's files are resolved only when a rooted package is given (its cases skip otherwise).
$baselineRooted = Get-ChanguardProperty -InputObject $matrix -Name 'baseline_rooted'
$baselineRootedFiles = @()
if ($RootedPackagePath -and $null -ne $baselineRooted) {
    $baselineRootedFiles = @(@($baselineRooted.content) | ForEach-Object { (Resolve-ChanguardContentFile -ContentKitPath $kit -FileName $_).Path })
}
foreach ($c in $cases) {
    foreach ($name in @(@($c.content) | Where-Object { $null -ne $_ })) {
        Resolve-ChanguardContentFile -ContentKitPath $kit -FileName $name -CaseName $c.name | Out-Null
    }
}

$guestCli = Join-Path $GuestToolsDirectory 'bin\changuard.exe'
$stable = $HealthWindowSeconds + $SettleSeconds
$installScript = Join-Path $PSScriptRoot 'Install-ChanguardDriver.ps1'

if (-not $PSCmdlet.ShouldProcess("VM '$VMName'", "Run $(@($cases).Count) boot-loop case(s), restoring checkpoints between them")) {
    foreach ($c in $cases) { Write-ChanguardLog ("would run {0} (apply {1}, content {2})" -f $c.name, $c.apply, (Format-ChanguardValue $c.content)) }
    return
}

Assert-ChanguardHyperVHost
$out = Resolve-ChanguardPath -Path $OutputDirectory
New-Item -ItemType Directory -Path $out -Force | Out-Null
Set-ChanguardLogFile -Path (Join-Path $out 'bootloop.log')
Write-ChanguardLog "Boot-loop matrix: $(@($cases).Count) case(s), channel $channel, output $out" -Level Step

function Install-ForCase {
    # Install the driver from a package into the running VM (content copied, service not started).
    param([string]$Package, [string[]]$Files, [bool]$Hooks)
    $installParams = @{
        VMName = $VMName
        GuestCredential = $GuestCredential
        PackagePath = $Package
        InstallMethod = $InstallMethod
        ContentDirectory = $GuestContentDirectory
        Policy = 'Latest'
        MaxTrialBoots = 1
        HealthWindowSeconds = $HealthWindowSeconds
        ContentFile = $Files
        ClearContent = $true
        NoStart = $true
        GuestToolsDirectory = $GuestToolsDirectory
        Confirm = $false
    }
    if ($CliPath) { $installParams['CliPath'] = $CliPath }
    if ($Hooks) { $installParams['TestHooks'] = $true }
    & $installScript @installParams | Out-Null
}

$baselineReady = @{}
function Initialize-Baseline {
    # Build (once per run) the checkpoint every non-first-install case starts from.
    param([ValidateSet('standard', 'testhooks', 'rooted')][string]$Flavor)
    $name = 'changuard-baseline'
    $package = $PackagePath
    $files = $baselineFiles
    if ($Flavor -eq 'testhooks') {
        $name = 'changuard-baseline-testhooks'
        $package = $TestHooksPackagePath
    }
    if ($Flavor -eq 'rooted') {
        $name = 'changuard-baseline-rooted'
        $package = $RootedPackagePath
        $files = $baselineRootedFiles
    }
    if ($baselineReady.ContainsKey($name)) { return $name }
    $have = $null -ne (Get-VMSnapshot -VMName $VMName -Name $name -ErrorAction SilentlyContinue)
    if ($have -and $ReuseBaseline) {
        Write-ChanguardLog "Reusing checkpoint '$name' (-ReuseBaseline)."
        $baselineReady[$name] = $true
        return $name
    }
    Write-ChanguardLog "Building baseline checkpoint '$name' from '$CleanCheckpoint'" -Level Step
    Restore-ChanguardCheckpoint -VMName $VMName -CheckpointName $CleanCheckpoint -Confirm:$false
    $b = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds
    Remove-PSSession -Session $b.Session -ErrorAction SilentlyContinue
    Install-ForCase -Package $package -Files $files -Hooks ($Flavor -eq 'testhooks')
    $b = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
    try {
        $st = Get-ChanguardGuestStatus -Session $b.Session -GuestCliPath $guestCli
        $cs = Get-ChanguardChannelStatus -Status $st.Status -Channel $channel
        $lkg = Get-ChanguardProperty -InputObject $cs -Name 'lkg_version'
        if ($null -eq $cs -or $null -eq $lkg) {
            throw "Baseline '$name' is not healthy: channel $channel has no LKG after $stable s. Status ($($st.Source)): $($st.Raw) $($st.Error)"
        }
        Write-ChanguardLog "Baseline: channel $channel active $(Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'active_version')), LKG $lkg" -Level Pass
    } finally {
        Remove-PSSession -Session $b.Session -ErrorAction SilentlyContinue
    }
    Save-ChanguardCheckpoint -VMName $VMName -CheckpointName $name -Confirm:$false
    $baselineReady[$name] = $true
    return $name
}

function Start-FromCheckpoint {
    # Restore a checkpoint, boot, and return {Session, LastBootUpTime, Since}.
    param([string]$Name)
    Restore-ChanguardCheckpoint -VMName $VMName -CheckpointName $Name -Confirm:$false
    $b = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds
    $clock = Get-ChanguardGuestClock -Session $b.Session
    return [pscustomobject]@{ Session = $b.Session; LastBootUpTime = $b.LastBootUpTime; Since = [datetime]$clock.Now }
}

function Stop-VmHard {
    # Pull the plug: no shutdown, no flush.
    Stop-VM -Name $VMName -TurnOff -Force -ErrorAction Stop
    Wait-ChanguardCondition -Description "VM '$VMName' to be Off" -TimeoutSeconds 120 -IntervalSeconds 2 -Condition {
        (Get-VM -Name $VMName).State -eq 'Off'
    } | Out-Null
}

$results = New-Object System.Collections.Generic.List[object]
foreach ($c in $cases) {
    $started = Get-Date
    $caseDir = Join-Path $out $c.name
    New-Item -ItemType Directory -Path $caseDir -Force | Out-Null
    Write-ChanguardLog "=== $($c.name) (sim scenario $($c.sim_scenario), apply $($c.apply))" -Level Step
    $status = 'Passed'
    $message = ''
    $details = New-Object System.Collections.Generic.List[string]
    $observed = ''
    $crashes = 0
    $session = $null
    $evidence = $null
    $alternative = $null
    $restoreTo = $CleanCheckpoint
    $content = $null
    $final = $null
    $since = $null
    $stage = Join-Path $caseDir 'staged'
    try {
        # `content` is one file name, or a list of them (poison-many).
        $contentNames = @(@($c.content) | Where-Object { $null -ne $_ })
        $contentFiles = @($contentNames | ForEach-Object { Resolve-ChanguardContentFile -ContentKitPath $kit -FileName $_ -CaseName $c.name })
        if ($contentFiles.Count -gt 0) {
            $content = $contentFiles[0]
        }
        switch ($c.apply) {
            'first-install' {
                $ctx = Start-FromCheckpoint -Name $CleanCheckpoint
                $since = $ctx.Since
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                Install-ForCase -Package $PackagePath -Files @($content.Path) -Hooks $false
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'deliver-file' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($content.Path) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'truncate' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $damaged = New-ChanguardMutatedFile -Path $content.Path -Mutation Truncate -OutDirectory $stage
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($damaged) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'flip-signature' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $file = $content.Path
                if ($content.CaseSpecific) {
                    $details.Add("Delivered the case-specific kit file $file as is (already carries a bad signature).")
                } else {
                    $file = New-ChanguardMutatedFile -Path $content.Path -Mutation FlipByte -Offset $SignatureByteOffset -OutDirectory $stage
                    $details.Add("Flipped byte at offset $SignatureByteOffset of $($content.Path).")
                }
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($file) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'poison' {
                if (-not $TestHooksPackagePath) {
                    $status = 'Skipped'
                    $message = 'needs -TestHooksPackagePath (a driver built with the test-hooks feature)'
                    break
                }
                $restoreTo = Initialize-Baseline -Flavor testhooks
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($content.Path) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                # Expect: bugcheck 0xC4A6D000 on the trial boot, automatic reboot, recovery on LKG.
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'power-off-during-update' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                $guestStage = Join-Path $GuestToolsDirectory 'stage'
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($content.Path) -GuestDirectory $guestStage -GuestFileName $c.content -Confirm:$false
                $marker = Join-Path $guestStage 'half-written.marker'
                $writerArgs = @((Join-Path $guestStage $c.content), (Join-Path $GuestContentDirectory $c.content), $marker)
                Invoke-Command -Session $ctx.Session -ErrorAction Stop -ArgumentList $writerArgs -ScriptBlock {
                    param($src, $dst, $mark)
                    Remove-Item -LiteralPath $mark -Force -ErrorAction SilentlyContinue
                    # A separate process writes half the file under its final name, flushes it to
                    # disk, drops the marker and then hangs holding the handle, like an updater
                    # caught mid-copy. Power is cut while it waits.
                    $code = @"
`$b = [System.IO.File]::ReadAllBytes('$src')
`$fs = New-Object System.IO.FileStream('$dst', [System.IO.FileMode]::Create, [System.IO.FileAccess]::Write, [System.IO.FileShare]::Read)
`$fs.Write(`$b, 0, [int][Math]::Floor(`$b.Length / 2))
`$fs.Flush(`$true)
[System.IO.File]::WriteAllText('$mark', 'half')
Start-Sleep -Seconds 900
"@
                    $enc = [Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($code))
                    Start-Process -FilePath 'powershell.exe' -ArgumentList @('-NoProfile', '-NonInteractive', '-EncodedCommand', $enc) -WindowStyle Hidden | Out-Null
                }
                Wait-ChanguardCondition -Description 'the guest writer to reach half of the file' -TimeoutSeconds 120 -IntervalSeconds 1 -Condition {
                    Invoke-Command -Session $ctx.Session -ArgumentList $marker -ScriptBlock { param($m) Test-Path -LiteralPath $m }
                } | Out-Null
                $before = $ctx.LastBootUpTime
                Write-ChanguardLog 'Half written: cutting power (Stop-VM -TurnOff) while the writer still holds the file.'
                Stop-VmHard
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                Start-VM -Name $VMName
                $final = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -AfterBootTime $before -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds
            }
            'power-off-during-promotion' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($content.Path) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $trialBoot = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
                try {
                    $st = Get-ChanguardGuestStatus -Session $trialBoot.Session -GuestCliPath $guestCli
                    $cs = Get-ChanguardChannelStatus -Status $st.Status -Channel $channel
                    $trialVersion = Get-ChanguardProperty -InputObject $cs -Name 'active_version'
                    $details.Add("On trial before the cut: $(Format-ChanguardValue $trialVersion) (lkg $(Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'lkg_version'))).")
                    if ($null -ne $trialVersion) {
                        # A VM cannot hit one instruction: the 'promotion completed' outcome is also correct.
                        $alternative = [pscustomobject]@{
                            active_version = $trialVersion; active_source = 'candidate'; max_crashes = 0
                            quarantined = @(); lkg_version = $trialVersion
                        }
                    }
                    $clock = Get-ChanguardGuestClock -Session $trialBoot.Session
                    $cutAt = ([datetime]$clock.LastBootUpTime).AddSeconds($HealthWindowSeconds).AddMilliseconds($PromotionCutOffsetMilliseconds)
                    $waitMs = [int](($cutAt - [datetime]$clock.Now).TotalMilliseconds)
                    if ($waitMs -lt 0) {
                        $details.Add("WARNING: reconnected $(-$waitMs) ms after the planned cut; raise -HealthWindowSeconds for a real mid-promotion cut.")
                    } else {
                        Start-Sleep -Milliseconds $waitMs
                    }
                } finally {
                    Remove-PSSession -Session $trialBoot.Session -ErrorAction SilentlyContinue
                }
                Write-ChanguardLog 'Health window ending: cutting power (Stop-VM -TurnOff).'
                Stop-VmHard
                Start-VM -Name $VMName
                $final = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -AfterBootTime $trialBoot.LastBootUpTime -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds
            }
            'corrupt-lkg' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $damaged = New-ChanguardMutatedFile -Path $content.Path -Mutation Truncate -OutDirectory $stage
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                $corrupted = Invoke-Command -Session $ctx.Session -ErrorAction Stop -ArgumentList $GuestLkgDirectory -ScriptBlock {
                    param($dir)
                    if (-not (Test-Path -LiteralPath $dir)) {
                        throw "LKG store $dir does not exist in the guest; pass -GuestLkgDirectory (the driver's LKG path)."
                    }
                    $files = @(Get-ChildItem -LiteralPath $dir -File -Recurse)
                    if ($files.Count -eq 0) { throw "LKG store $dir is empty: the baseline never promoted anything." }
                    foreach ($f in $files) {
                        $b = [System.IO.File]::ReadAllBytes($f.FullName)
                        $mid = [int][Math]::Floor($b.Length / 2)
                        $end = [Math]::Min($b.Length, $mid + 64)
                        for ($i = $mid; $i -lt $end; $i++) { $b[$i] = [byte]($b[$i] -bxor 0xFF) }
                        [System.IO.File]::WriteAllBytes($f.FullName, $b)
                    }
                    @($files | ForEach-Object { $_.FullName })
                }
                $details.Add("Corrupted LKG files: $(@($corrupted) -join ', ')")
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($damaged) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'reboot-during-trial' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($content.Path) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $trialBoot = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
                try {
                    $st = Get-ChanguardGuestStatus -Session $trialBoot.Session -GuestCliPath $guestCli
                    $cs = Get-ChanguardChannelStatus -Status $st.Status -Channel $channel
                    $attempt = Get-ChanguardProperty -InputObject $cs -Name 'trial_attempt'
                    $details.Add("Before the clean reboot: active $(Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'active_version')), trial_attempt $(Format-ChanguardValue $attempt).")
                    if ($null -eq $attempt) {
                        $details.Add('WARNING: the content was not on trial at the clean reboot (health window already over?); raise -HealthWindowSeconds.')
                    }
                } finally {
                    Remove-PSSession -Session $trialBoot.Session -ErrorAction SilentlyContinue
                }
                # A clean reboot (shutdown /r) during the trial: the driver records the clean
                # shutdown, so the next boot continues the trial instead of quarantining it.
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'deliver-with-junk' {
                $restoreTo = Initialize-Baseline -Flavor standard
                $junkName = [string](Get-ChanguardProperty -InputObject $c -Name 'junk' -Default '')
                if (-not $junkName) { throw "Matrix case '$($c.name)' uses apply 'deliver-with-junk' without a 'junk' file name." }
                $junk = New-ChanguardMutatedFile -Path $content.Path -Mutation FlipByte -Offset $SignatureByteOffset -OutDirectory $stage
                $details.Add("Junk: $($content.Path) with byte $SignatureByteOffset flipped, delivered as $junkName.")
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($junk) -GuestDirectory $GuestContentDirectory -GuestFileName $junkName -Confirm:$false
                Copy-ChanguardToGuest -Session $ctx.Session -Path @($content.Path) -GuestDirectory $GuestContentDirectory -GuestFileName $c.content -Confirm:$false
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            'poison-many' {
                if (-not $TestHooksPackagePath) {
                    $status = 'Skipped'
                    $message = 'needs -TestHooksPackagePath (a driver built with the test-hooks feature)'
                    break
                }
                $restoreTo = Initialize-Baseline -Flavor testhooks
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                for ($i = 0; $i -lt $contentNames.Count; $i++) {
                    Copy-ChanguardToGuest -Session $ctx.Session -Path @($contentFiles[$i].Path) -GuestDirectory $GuestContentDirectory -GuestFileName $contentNames[$i] -Confirm:$false
                }
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                # Each round: the newest bad version bugchecks on trial, the VM reboots itself into
                # a recovery boot on LKG (reason 221) and stays up. Stop when a round changes
                # nothing: no trial open and the quarantine list as before.
                $lastQuarantine = $null
                for ($round = 1; $round -le ($contentNames.Count + 2); $round++) {
                    if ($null -ne $final) { Remove-PSSession -Session $final.Session -ErrorAction SilentlyContinue }
                    $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
                    $st = Get-ChanguardGuestStatus -Session $final.Session -GuestCliPath $guestCli
                    $cs = Get-ChanguardChannelStatus -Status $st.Status -Channel $channel
                    $quarantine = Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'quarantined' -Default @())
                    $onTrial = $null -ne (Get-ChanguardProperty -InputObject $cs -Name 'trial_attempt')
                    $details.Add("Round ${round}: active $(Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'active_version')), quarantined $quarantine, on trial $onTrial.")
                    if (-not $onTrial -and $quarantine -eq $lastQuarantine) { break }
                    $lastQuarantine = $quarantine
                }
            }
            'deliver-records' {
                if (-not $RootedPackagePath) {
                    $status = 'Skipped'
                    $message = 'needs -RootedPackagePath (a driver built with the kit''s root keys, CHANGUARD_ROOT_PUBKEYS)'
                    break
                }
                $restoreTo = Initialize-Baseline -Flavor rooted
                $ctx = Start-FromCheckpoint -Name $restoreTo
                $since = $ctx.Since
                for ($i = 0; $i -lt $contentNames.Count; $i++) {
                    Copy-ChanguardToGuest -Session $ctx.Session -Path @($contentFiles[$i].Path) -GuestDirectory $GuestContentDirectory -GuestFileName $contentNames[$i] -Confirm:$false
                }
                Remove-PSSession -Session $ctx.Session -ErrorAction SilentlyContinue
                $final = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds $stable -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            }
            default {
                throw "Matrix case '$($c.name)' uses apply '$($c.apply)', which this script does not implement."
            }
        }

        if ($status -ne 'Skipped') {
            $session = $final.Session
            $st = Get-ChanguardGuestStatus -Session $session -GuestCliPath $guestCli
            Write-ChanguardTextFile -Path (Join-Path $caseDir 'status.json') -Text ([string]$st.Raw) | Out-Null
            $evidence = Get-ChanguardGuestCrashEvidence -Session $session -Since $since
            Write-ChanguardTextFile -Path (Join-Path $caseDir 'crash-evidence.json') -Text ($evidence | ConvertTo-Json -Depth 5) | Out-Null
            $crashes = [int]$evidence.Crashes
            $cs = Get-ChanguardChannelStatus -Status $st.Status -Channel $channel
            $observed = 'active {0} ({1}), lkg {2}, quarantined {3}, crashes {4}' -f
                (Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'active_version')),
                (Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'active_source')),
                (Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'lkg_version')),
                (Format-ChanguardValue (Get-ChanguardProperty -InputObject $cs -Name 'quarantined')), $crashes
            $details.Add("Observed: $observed (status from $($st.Source); boots seen while waiting: $($final.Boots)).")
            $rej = Get-ChanguardProperty -InputObject $cs -Name 'last_rejection'
            if ($null -ne $rej) { $details.Add("last_rejection: $($rej | ConvertTo-Json -Compress)") }
            foreach ($e in @($evidence.BugcheckEvents) + @($evidence.KernelPowerBugchecks)) { $details.Add("bugcheck: $e") }
            if ($evidence.UnexpectedPowerLosses -gt 0) { $details.Add("power losses (Kernel-Power 41, no bugcheck): $($evidence.UnexpectedPowerLosses)") }
            if ($null -eq $st.Status) {
                $status = 'Failed'
                $message = "driver status unreadable: $($st.Error)"
            } else {
                $problems = @(Test-ChanguardCaseOutcome -Expect $c.expect -ChannelStatus $cs -Crashes $crashes)
                if ($problems.Count -gt 0 -and $null -ne $alternative) {
                    $altProblems = @(Test-ChanguardCaseOutcome -Expect $alternative -ChannelStatus $cs -Crashes $crashes)
                    if ($altProblems.Count -eq 0) {
                        $details.Add('Matched the accepted alternative outcome (promotion completed before the cut).')
                        $problems = @()
                    }
                }
                # Windows-observable decisions the case names (`observe`): among the driver's
                # recent decisions, which it also wrote to the System event log.
                $decided = @(@(Get-ChanguardProperty -InputObject $st.Status -Name 'decisions' -Default @()) |
                    ForEach-Object { Get-ChanguardProperty -InputObject $_ -Name 'reason_name' })
                foreach ($want in @(Get-ChanguardProperty -InputObject $c -Name 'observe' -Default @())) {
                    if ($decided -notcontains $want) {
                        $problems = @($problems) + "decision '$want' not among the driver's recent decisions ($($decided -join ', '))"
                    }
                }
                if (@($problems).Count -gt 0) {
                    $status = 'Failed'
                    $message = $problems -join '; '
                }
            }
        }
    } catch {
        $status = 'Error'
        $message = $_.Exception.Message
        $details.Add(($_ | Out-String))
    }

    # Evidence: minidumps whenever something crashed; MEMORY.DMP only for a failed case.
    try {
        if ($status -ne 'Skipped') {
            if ($null -eq $session) {
                $b = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds 300
                $session = $b.Session
            }
            if ($null -eq $evidence -and $null -ne $since) {
                $evidence = Get-ChanguardGuestCrashEvidence -Session $session -Since $since
            }
            if ($null -ne $evidence) {
                $dumps = @($evidence.Dumps | Where-Object { $status -ne 'Passed' -or $_ -notlike '*MEMORY.DMP' })
                if ($dumps.Count -gt 0) {
                    $saved = Save-ChanguardGuestFile -Session $session -GuestPath $dumps -Destination (Join-Path $caseDir 'dumps')
                    $details.Add("Dumps saved: $(@($saved) -join ', ') (analyze: Get-ChanguardCrashDump.ps1 -DumpPath <file>).")
                }
            }
        }
    } catch {
        $details.Add("Could not collect dumps: $($_.Exception.Message)")
    } finally {
        if ($null -ne $session) { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
    }

    try {
        Restore-ChanguardCheckpoint -VMName $VMName -CheckpointName $restoreTo -NoStart -Confirm:$false
    } catch {
        $details.Add("Restore of '$restoreTo' failed: $($_.Exception.Message)")
    }

    $seconds = ((Get-Date) - $started).TotalSeconds
    $result = [pscustomobject]@{
        Name = $c.name
        ClassName = 'changuard.bootloop'
        Scenario = $c.sim_scenario
        Apply = $c.apply
        Status = $status
        Seconds = $seconds
        Message = $message
        Details = ($details -join [Environment]::NewLine)
        Observed = $observed
        Crashes = $crashes
        Expected = ('active {0} ({1}), lkg {2}, quarantined {3}, crashes <= {4}' -f (Format-ChanguardValue $c.expect.active_version),
            $c.expect.active_source, (Format-ChanguardValue $c.expect.lkg_version), (Format-ChanguardValue @($c.expect.quarantined)), $c.expect.max_crashes)
    }
    $results.Add($result)
    $level = 'Pass'
    if ($status -eq 'Failed' -or $status -eq 'Error') { $level = 'Fail' }
    if ($status -eq 'Skipped') { $level = 'Warn' }
    Write-ChanguardLog ("{0}: {1} {2}" -f $c.name, $status.ToUpperInvariant(), $message) -Level $level
}

# Reports.
$junit = ConvertTo-ChanguardJUnitXml -SuiteName 'changuard-bootloop' -Results $results.ToArray()
$junitPath = Write-ChanguardTextFile -Path (Join-Path $out 'bootloop-junit.xml') -Text $junit

$md = New-Object System.Text.StringBuilder
[void]$md.AppendLine('# changuard boot-loop report')
[void]$md.AppendLine()
[void]$md.AppendLine("- Date: $((Get-Date).ToString('u'))")
[void]$md.AppendLine("- VM: $VMName; package: $PackagePath; test-hooks package: $(if ($TestHooksPackagePath) { $TestHooksPackagePath } else { '(none: poison case skipped)' })")
[void]$md.AppendLine("- Matrix: $MatrixPath (channel $channel); MaxTrialBoots=1, HealthWindowSeconds=$HealthWindowSeconds, settle $SettleSeconds s")
$passed = @($results | Where-Object { $_.Status -eq 'Passed' }).Count
$failed = @($results | Where-Object { $_.Status -eq 'Failed' -or $_.Status -eq 'Error' }).Count
$skipped = @($results | Where-Object { $_.Status -eq 'Skipped' }).Count
[void]$md.AppendLine("- Result: $passed passed, $failed failed, $skipped skipped")
[void]$md.AppendLine()
[void]$md.AppendLine('| case | sim scenario | apply | result | expected | observed |')
[void]$md.AppendLine('|---|---|---|---|---|---|')
foreach ($r in $results) {
    [void]$md.AppendLine(('| {0} | {1} | {2} | {3} | {4} | {5} |' -f $r.Name, $r.Scenario, $r.Apply, $r.Status, $r.Expected, ($r.Observed -replace '\|', '/')))
}
[void]$md.AppendLine()
[void]$md.AppendLine('Expected = the matrix `expect` (also checked by the simulator). "crashes" counts bugchecks seen in the guest during the case (event 1001, Kernel-Power 41 with a bugcheck code, new minidumps).')
foreach ($r in $results) {
    if ($r.Status -eq 'Passed') { continue }
    [void]$md.AppendLine()
    [void]$md.AppendLine("## $($r.Name): $($r.Status)")
    [void]$md.AppendLine()
    [void]$md.AppendLine($r.Message)
    [void]$md.AppendLine()
    [void]$md.AppendLine('```')
    [void]$md.AppendLine($r.Details)
    [void]$md.AppendLine('```')
    [void]$md.AppendLine("Evidence: $(Join-Path $out $r.Name)")
}
$mdPath = Write-ChanguardTextFile -Path (Join-Path $out 'bootloop-report.md') -Text $md.ToString()
Write-ChanguardLog "Reports: $junitPath, $mdPath" -Level Step
Write-ChanguardLog "$passed passed, $failed failed, $skipped skipped" -Level Step

$results.ToArray()
if ($failed -gt 0) { exit 1 }
