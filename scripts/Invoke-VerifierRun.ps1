<#
.SYNOPSIS
    Runs changuard under Driver Verifier in the test VM with a bounded stress phase, then
    resets Verifier and writes a report.

.DESCRIPTION
    Needs the driver installed (Install-ChanguardDriver.ps1). Steps:
    1. Enables Driver Verifier for changuard.sys only. On Windows 10 1803+ (build 17134+):
           verifier /ruleclasses 1 2 4 5 6 8 9 12 18 34 [20] [3] /driver changuard.sys
       i.e. the standard rule classes (special pool, IRQL, pool tracking, I/O, deadlock, DMA,
       security, misc, DDI compliance = 18, WDF verification = 34) plus DDI compliance
       (additional) = 20 unless -NoAdditionalDdiRules, plus randomized low resources
       simulation = 3 with -LowResourcesSimulation. Older builds:
           verifier /flags 0x209BB[+0x4] /driver changuard.sys   (0x209BB = /standard; 0x20000 = DDI compliance)
       and `verifier /bootmode <BootMode>` (default oneboot: a verifier crash at boot cannot
       loop, the next boot runs without Verifier).
    2. Reboots, checks `verifier /querysettings` lists changuard.sys.
    3. Stress phase (bounded by -StressMinutes, seeded by -Seed), in rounds:
       `changuard driver reload` loops; content swaps (files from -SwapContentFile copied into
       the content directory, then reload); malformed and random events through
       `changuard driver submit --template <id> s:<text>|i:<u64> ...` (valid and invalid
       template ids, value counts, types and sizes) and, if a later CLI offers it, raw random
       IOCTL buffers via `changuard driver submit --raw HEX` (probed with --help); a storm of
       process creations; service stop/start (`sc.exe stop|start changuard`).
    4. Checks for bugchecks (guest reboot, event 1001, Kernel-Power 41, minidumps) and saves
       `verifier /query` (counters) and `verifier /querysettings`.
    5. `verifier /reset` and a reboot (unless -KeepVerifier), then writes verifier-report.md
       and verifier-junit.xml. Exits 1 when anything failed.

.PARAMETER VMName
    The test VM, running or off, with changuard installed.

.PARAMETER GuestCredential
    Guest local administrator.

.PARAMETER OutputDirectory
    Default .\out\verifier-<timestamp>.

.PARAMETER StressMinutes
    Length of the stress phase. Default 10.

.PARAMETER Seed
    Seed for the random events/buffers (printed in the report so a run can be repeated).

.PARAMETER SwapContentFile
    Host channel files to swap in and out during stress (e.g. kit v6 and v7 of a channel).

.PARAMETER ReloadsPerRound
    Default 20.

.PARAMETER EventsPerRound
    Malformed/random submit calls per round. Default 100.

.PARAMETER ProcessesPerRound
    Processes created per round. Default 100.

.PARAMETER LowResourcesSimulation
    Add rule class 3 / flag 0x4. Verifier only starts failing allocations 7 minutes after
    boot; the stress phase then waits -LowResourcesWarmupMinutes of uptime first.

.PARAMETER LowResourcesWarmupMinutes
    Default 8.

.PARAMETER NoAdditionalDdiRules
    Do not add rule class 20 (DDI compliance checking, additional).

.PARAMETER BootMode
    verifier /bootmode value: oneboot (default), persistent, disableafterfail, resetonbootfail
    (the last two exist on different Windows versions; check `verifier /?` in your guest).

.PARAMETER KeepVerifier
    Leave Verifier enabled at the end.

.PARAMETER GuestToolsDirectory
    Default C:\changuard.

.PARAMETER GuestContentDirectory
    Default C:\ProgramData\changuard\content.

.PARAMETER BootTimeoutSeconds
    Bound on each wait for the guest to boot. Default 1200.

.EXAMPLE
    .\scripts\Invoke-VerifierRun.ps1 -VMName changuard-test -GuestCredential $cred -StressMinutes 15 `
        -SwapContentFile .\out\kit\C-00000291-00000006.chan, .\out\kit\C-00000291-00000007.chan

.EXAMPLE
    .\scripts\Invoke-VerifierRun.ps1 -VMName changuard-test -GuestCredential $cred -LowResourcesSimulation -WhatIf

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

    [string]$OutputDirectory = (Join-Path (Get-Location) ("out\verifier-{0}" -f (Get-Date -Format 'yyyyMMdd-HHmmss'))),

    [ValidateRange(1, 1440)]
    [int]$StressMinutes = 10,

    [ValidateRange(0, 2147483647)]
    [int]$Seed = (Get-Random -Minimum 0 -Maximum 2147483647),

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string[]]$SwapContentFile = @(),

    [ValidateRange(0, 10000)]
    [int]$ReloadsPerRound = 20,

    [ValidateRange(0, 100000)]
    [int]$EventsPerRound = 100,

    [ValidateRange(0, 10000)]
    [int]$ProcessesPerRound = 100,

    [switch]$LowResourcesSimulation,

    [ValidateRange(0, 120)]
    [int]$LowResourcesWarmupMinutes = 8,

    [switch]$NoAdditionalDdiRules,

    [ValidateSet('oneboot', 'persistent', 'disableafterfail', 'resetonbootfail')]
    [string]$BootMode = 'oneboot',

    [switch]$KeepVerifier,

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$GuestToolsDirectory = 'C:\changuard',

    [ValidatePattern('^[A-Za-z]:\\')]
    [string]$GuestContentDirectory = 'C:\ProgramData\changuard\content',

    [ValidateRange(60, 14400)]
    [int]$BootTimeoutSeconds = 1200
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force

$ruleClasses = @(1, 2, 4, 5, 6, 8, 9, 12, 18, 34)
if (-not $NoAdditionalDdiRules) { $ruleClasses += 20 }
if ($LowResourcesSimulation) { $ruleClasses += 3 }
$flags = 0x209BB
if ($LowResourcesSimulation) { $flags = $flags -bor 0x4 }
$guestCli = Join-Path $GuestToolsDirectory 'bin\changuard.exe'
$guestStage = Join-Path $GuestToolsDirectory 'stage\swap'

if (-not $PSCmdlet.ShouldProcess("VM '$VMName'", ("Enable Driver Verifier for changuard.sys (rule classes {0}; bootmode {1}), reboot, stress {2} min (seed {3}), reset" -f ($ruleClasses -join ' '), $BootMode, $StressMinutes, $Seed))) {
    return
}

Assert-ChanguardHyperVHost
$out = Resolve-ChanguardPath -Path $OutputDirectory
New-Item -ItemType Directory -Path $out -Force | Out-Null
Set-ChanguardLogFile -Path (Join-Path $out 'verifier.log')
Write-ChanguardLog "Driver Verifier run on '$VMName', seed $Seed, output $out" -Level Step

$checks = New-Object System.Collections.Generic.List[object]
function Add-Check {
    param([string]$Name, [string]$Status, [string]$Message, [string]$Details, [datetime]$Started)
    $checks.Add([pscustomobject]@{
            Name = $Name; ClassName = 'changuard.verifier'; Status = $Status; Message = $Message
            Details = $Details; Seconds = ((Get-Date) - $Started).TotalSeconds
        })
    $level = 'Pass'
    if ($Status -ne 'Passed') { $level = 'Fail' }
    Write-ChanguardLog "$Name`: $Status $Message" -Level $level
}

$vm = Get-VM -Name $VMName -ErrorAction Stop
if ($vm.State -ne 'Running') { Start-VM -Name $VMName }
$boot = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds
$session = $boot.Session
$since = $null
$stressSummary = $null
$queryText = ''
$settingsText = ''
try {
    # 1. Enable.
    $t = Get-Date
    $enable = Invoke-Command -Session $session -ErrorAction Stop -ArgumentList @($ruleClasses, $flags, $BootMode) -ScriptBlock {
        param([int[]]$classes, [int]$flagValue, [string]$mode)
        if (-not (Test-Path -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Services\changuard')) {
            throw 'changuard is not installed in the guest: run Install-ChanguardDriver.ps1 first.'
        }
        $build = [Environment]::OSVersion.Version.Build
        if ($build -ge 17134) {
            $vArgs = @('/ruleclasses') + @($classes | ForEach-Object { [string]$_ }) + @('/driver', 'changuard.sys')
        } else {
            $vArgs = @('/flags', ('0x{0:X}' -f $flagValue), '/driver', 'changuard.sys')
        }
        # 2 = EXIT_CODE_REBOOT_NEEDED.
        $r = Invoke-GuestNative -FilePath 'verifier.exe' -ArgumentList $vArgs -AllowedExitCodes @(0, 2)
        $m = Invoke-GuestNative -FilePath 'verifier.exe' -ArgumentList @('/bootmode', $mode) -AllowedExitCodes @(0, 2)
        [pscustomobject]@{ Build = $build; Command = "verifier $($vArgs -join ' ')"; Output = $r.Output + "`n" + $m.Output }
    }
    Write-ChanguardLog "Guest build $($enable.Build): $($enable.Command)"
    Remove-PSSession -Session $session -ErrorAction SilentlyContinue
    $session = $null

    # 2. Reboot into Verifier.
    $boot = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds 60 -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
    $session = $boot.Session
    $since = [datetime](Get-ChanguardGuestClock -Session $session).LastBootUpTime
    $settingsText = Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {
        (Invoke-GuestNative -FilePath 'verifier.exe' -ArgumentList @('/querysettings') -AnyExitCode).Output
    }
    Write-ChanguardTextFile -Path (Join-Path $out 'verifier-querysettings-before.txt') -Text $settingsText | Out-Null
    if ($settingsText -match '(?i)changuard\.sys') {
        Add-Check -Name 'verifier-enabled' -Status 'Passed' -Message $enable.Command -Details $settingsText -Started $t
    } else {
        Add-Check -Name 'verifier-enabled' -Status 'Failed' -Message 'changuard.sys is not in verifier /querysettings after the reboot' -Details $settingsText -Started $t
        throw 'Driver Verifier is not verifying changuard.sys; see verifier-querysettings-before.txt.'
    }

    if ($LowResourcesSimulation -and $LowResourcesWarmupMinutes -gt 0) {
        $clock = Get-ChanguardGuestClock -Session $session
        $waitS = [int](($LowResourcesWarmupMinutes * 60) - ([datetime]$clock.Now - [datetime]$clock.LastBootUpTime).TotalSeconds)
        if ($waitS -gt 0) {
            Write-ChanguardLog "Low resources simulation starts failing allocations ~7 min after boot: waiting $waitS s."
            Start-Sleep -Seconds $waitS
        }
    }

    # 3. Stress.
    $t = Get-Date
    if (@($SwapContentFile).Count -gt 0) {
        Copy-ChanguardToGuest -Session $session -Path $SwapContentFile -GuestDirectory $guestStage -Confirm:$false
    }
    $stressArgs = @($guestCli, $GuestContentDirectory, $guestStage, $StressMinutes, $Seed, $ReloadsPerRound, $EventsPerRound, $ProcessesPerRound)
    $job = Invoke-Command -Session $session -AsJob -ArgumentList $stressArgs -ScriptBlock {
        param($cli, $contentDir, $stageDir, [int]$minutes, [int]$seed, [int]$reloads, [int]$events, [int]$procs)
        $rng = New-Object System.Random($seed)
        $deadline = (Get-Date).AddMinutes($minutes)
        $stats = [ordered]@{ Rounds = 0; Reloads = 0; ReloadFailures = 0; Swaps = 0; Events = 0; EventExit = @{}; RawBuffers = 0
            RawExit = @{}; Processes = 0; ServiceStops = 0; ServiceStopExit = @{}; ServiceStartFailures = 0; Notes = @() }
        function Count-Exit([hashtable]$h, [int]$code) {
            $k = [string]$code
            if ($h.ContainsKey($k)) { $h[$k] += 1 } else { $h[$k] = 1 }
        }
        function Get-RandomText([int]$len) {
            $alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/'
            $chars = for ($i = 0; $i -lt $len; $i++) { $alphabet[$rng.Next($alphabet.Length)] }
            -join $chars
        }
        # Windows PowerShell 5.1 does not escape embedded double quotes for native commands: do it.
        function ConvertTo-NativeArg([string]$s) { $s -replace '"', '\"' }
        $help = (Invoke-GuestNative -FilePath $cli -ArgumentList @('driver', 'submit', '--help') -AnyExitCode)
        $hasRaw = ($help.Output + $help.Error) -match '--raw'
        if (-not $hasRaw) { $stats.Notes += 'changuard driver submit has no --raw: raw IOCTL buffers skipped' }
        $swapFiles = @()
        if (Test-Path -LiteralPath $stageDir) { $swapFiles = @(Get-ChildItem -LiteralPath $stageDir -File) }
        while ((Get-Date) -lt $deadline) {
            $stats.Rounds += 1
            for ($i = 0; $i -lt $reloads -and (Get-Date) -lt $deadline; $i++) {
                $r = Invoke-GuestNative -FilePath $cli -ArgumentList @('driver', 'reload') -AnyExitCode
                $stats.Reloads += 1
                if ($r.ExitCode -ne 0) { $stats.ReloadFailures += 1 }
            }
            if ($swapFiles.Count -gt 0) {
                $f = $swapFiles[$rng.Next($swapFiles.Count)]
                if ($rng.Next(2) -eq 0) {
                    Copy-Item -LiteralPath $f.FullName -Destination (Join-Path $contentDir $f.Name) -Force
                } else {
                    Remove-Item -LiteralPath (Join-Path $contentDir $f.Name) -Force -ErrorAction SilentlyContinue
                }
                Invoke-GuestNative -FilePath $cli -ArgumentList @('driver', 'reload') -AnyExitCode | Out-Null
                $stats.Swaps += 1
            }
            for ($i = 0; $i -lt $events -and (Get-Date) -lt $deadline; $i++) {
                # `changuard driver submit --template <id> <values>`: s:<text> / i:<u64> in schema
                # order (crates/cli/src/driver_cmd.rs). Mix well-formed events with wrong template
                # ids, wrong value counts and types, empty and long strings: the driver must
                # reject what does not match the template, never crash.
                $template = @(1, 1, 1, 2, 0, 3, 65535)[$rng.Next(7)]
                $vals = @()
                $count = $rng.Next(0, 9)
                for ($k = 0; $k -lt $count; $k++) {
                    switch ($rng.Next(5)) {
                        0 { $vals += 'i:' + [string]$rng.Next() }
                        1 { $vals += 's:' }
                        2 { $vals += 's:' + ('A' * $rng.Next(1, 20000)) }
                        3 { $vals += 'i:18446744073709551615' }
                        default { $vals += 's:' + (Get-RandomText ($rng.Next(1, 200))) }
                    }
                }
                # Keep the whole command line under Windows' 32767-character limit.
                $total = 0
                $fit = @()
                foreach ($v in $vals) {
                    if ($total + $v.Length -gt 30000) { break }
                    $total += $v.Length + 3
                    $fit += (ConvertTo-NativeArg $v)
                }
                $r = Invoke-GuestNative -FilePath $cli -ArgumentList (@('driver', 'submit', '--template', [string]$template) + $fit) -AnyExitCode
                $stats.Events += 1
                Count-Exit $stats.EventExit $r.ExitCode
                if ($hasRaw) {
                    $n = $rng.Next(0, 4096)
                    $buf = New-Object byte[] $n
                    $rng.NextBytes($buf)
                    $hex = -join @($buf | ForEach-Object { $_.ToString('x2') })
                    $r = Invoke-GuestNative -FilePath $cli -ArgumentList @('driver', 'submit', '--raw', $hex) -AnyExitCode
                    $stats.RawBuffers += 1
                    Count-Exit $stats.RawExit $r.ExitCode
                }
            }
            $started = @()
            for ($i = 0; $i -lt $procs -and (Get-Date) -lt $deadline; $i++) {
                $started += Start-Process -FilePath 'cmd.exe' -ArgumentList @('/c', 'exit', [string]$rng.Next(0, 256)) -WindowStyle Hidden -PassThru
            }
            foreach ($p in $started) { [void]$p.WaitForExit(30000) }
            $stats.Processes += $started.Count
            $stop = Invoke-GuestNative -FilePath 'sc.exe' -ArgumentList @('stop', 'changuard') -AnyExitCode
            $stats.ServiceStops += 1
            Count-Exit $stats.ServiceStopExit $stop.ExitCode
            Start-Sleep -Milliseconds 500
            $start = Invoke-GuestNative -FilePath 'sc.exe' -ArgumentList @('start', 'changuard') -AnyExitCode
            if (@(0, 1056) -notcontains $start.ExitCode) { $stats.ServiceStartFailures += 1 }
        }
        [pscustomobject]$stats
    }
    $jobTimeout = $StressMinutes * 60 + 600
    $finished = Wait-Job -Job $job -Timeout $jobTimeout
    $stressError = $null
    if ($null -eq $finished) {
        Stop-Job -Job $job
        $stressError = "the stress phase did not finish within $jobTimeout s (a hung changuard.exe or sc.exe?)"
    } else {
        try {
            $stressSummary = Receive-Job -Job $job -ErrorAction Stop
        } catch {
            $stressError = "the stress job failed (guest crashed or session lost?): $($_.Exception.Message)"
        }
    }
    Remove-Job -Job $job -Force -ErrorAction SilentlyContinue

    # 4. Did anything crash?
    Remove-PSSession -Session $session -ErrorAction SilentlyContinue
    $session = $null
    $boot2 = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds
    $session = $boot2.Session
    $evidence = Get-ChanguardGuestCrashEvidence -Session $session -Since $since
    Write-ChanguardTextFile -Path (Join-Path $out 'crash-evidence.json') -Text ($evidence | ConvertTo-Json -Depth 5) | Out-Null
    $rebooted = ([datetime]$boot2.LastBootUpTime -ne $since)
    $stressText = ''
    if ($null -ne $stressSummary) { $stressText = ($stressSummary | ConvertTo-Json -Depth 5) }
    Write-ChanguardTextFile -Path (Join-Path $out 'stress-summary.json') -Text $stressText | Out-Null
    if ($evidence.Crashes -gt 0 -or $rebooted) {
        $dumpDir = Join-Path $out 'dumps'
        $saved = Save-ChanguardGuestFile -Session $session -GuestPath @($evidence.Dumps) -Destination $dumpDir
        $msg = "bugcheck during the Verifier run (crashes: $($evidence.Crashes); guest rebooted: $rebooted)"
        $det = "Events: $(@($evidence.BugcheckEvents) -join ' | ') $(@($evidence.KernelPowerBugchecks) -join ' | ')`nDumps: $(@($saved) -join ', ')`nAnalyze: Get-ChanguardCrashDump.ps1 -DumpPath $dumpDir\*.dmp"
        Add-Check -Name 'stress-no-bugcheck' -Status 'Failed' -Message $msg -Details $det -Started $t
    } elseif ($null -ne $stressError) {
        Add-Check -Name 'stress-no-bugcheck' -Status 'Error' -Message $stressError -Details '' -Started $t
    } else {
        Add-Check -Name 'stress-no-bugcheck' -Status 'Passed' -Message "no bugcheck in $StressMinutes min" -Details $stressText -Started $t
    }

    $t = Get-Date
    $queryText = Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {
        (Invoke-GuestNative -FilePath 'verifier.exe' -ArgumentList @('/query') -AnyExitCode).Output
    }
    Write-ChanguardTextFile -Path (Join-Path $out 'verifier-query.txt') -Text $queryText | Out-Null
    if ($queryText -match '(?i)changuard\.sys' -or $rebooted) {
        Add-Check -Name 'verifier-query' -Status 'Passed' -Message 'verifier /query counters saved (verifier-query.txt)' -Details $queryText -Started $t
    } else {
        Add-Check -Name 'verifier-query' -Status 'Failed' -Message 'verifier /query does not mention changuard.sys: was it verified at all?' -Details $queryText -Started $t
    }
} catch {
    Add-Check -Name 'verifier-run' -Status 'Error' -Message $_.Exception.Message -Details ($_ | Out-String) -Started (Get-Date)
} finally {
    # 5. Reset, whatever happened (unless asked to keep it).
    if (-not $KeepVerifier) {
        $t = Get-Date
        try {
            if ($null -eq $session) {
                $b = Wait-ChanguardGuestBoot -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds
                $session = $b.Session
            }
            Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {
                Invoke-GuestNative -FilePath 'verifier.exe' -ArgumentList @('/reset') -AllowedExitCodes @(0, 2) | Out-Null
            }
            Remove-PSSession -Session $session -ErrorAction SilentlyContinue
            $session = $null
            $b = Restart-ChanguardGuest -VMName $VMName -Credential $GuestCredential -StableSeconds 0 -TimeoutSeconds $BootTimeoutSeconds -Confirm:$false
            $after = Invoke-Command -Session $b.Session -ErrorAction Stop -ScriptBlock {
                (Invoke-GuestNative -FilePath 'verifier.exe' -ArgumentList @('/querysettings') -AnyExitCode).Output
            }
            Remove-PSSession -Session $b.Session -ErrorAction SilentlyContinue
            Write-ChanguardTextFile -Path (Join-Path $out 'verifier-querysettings-after.txt') -Text $after | Out-Null
            if ($after -match '(?i)changuard\.sys') {
                Add-Check -Name 'verifier-reset' -Status 'Failed' -Message 'changuard.sys still verified after verifier /reset and a reboot' -Details $after -Started $t
            } else {
                Add-Check -Name 'verifier-reset' -Status 'Passed' -Message 'verifier /reset done' -Details '' -Started $t
            }
        } catch {
            Add-Check -Name 'verifier-reset' -Status 'Error' -Message "could not reset Verifier: $($_.Exception.Message). Run 'verifier /reset' in the guest by hand." -Details '' -Started $t
        }
    }
    if ($null -ne $session) { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
}

$junit = ConvertTo-ChanguardJUnitXml -SuiteName 'changuard-verifier' -Results $checks.ToArray()
$junitPath = Write-ChanguardTextFile -Path (Join-Path $out 'verifier-junit.xml') -Text $junit
$md = New-Object System.Text.StringBuilder
[void]$md.AppendLine('# changuard Driver Verifier report')
[void]$md.AppendLine()
[void]$md.AppendLine("- Date: $((Get-Date).ToString('u')); VM: $VMName")
[void]$md.AppendLine("- Rule classes: $($ruleClasses -join ' ') (fallback flags 0x$('{0:X}' -f $flags)); bootmode $BootMode")
[void]$md.AppendLine("- Stress: $StressMinutes min, seed $Seed, reloads/round $ReloadsPerRound, events/round $EventsPerRound, processes/round $ProcessesPerRound, swap files $(@($SwapContentFile).Count)")
[void]$md.AppendLine()
[void]$md.AppendLine('| check | result | message |')
[void]$md.AppendLine('|---|---|---|')
foreach ($c in $checks) { [void]$md.AppendLine(('| {0} | {1} | {2} |' -f $c.Name, $c.Status, ($c.Message -replace '\|', '/'))) }
[void]$md.AppendLine()
if ($null -ne $stressSummary) {
    [void]$md.AppendLine('## Stress summary')
    [void]$md.AppendLine('```')
    [void]$md.AppendLine(($stressSummary | ConvertTo-Json -Depth 5))
    [void]$md.AppendLine('```')
}
[void]$md.AppendLine('Files: verifier-query.txt (counters from `verifier /query`), verifier-querysettings-*.txt, crash-evidence.json, dumps\.')
$mdPath = Write-ChanguardTextFile -Path (Join-Path $out 'verifier-report.md') -Text $md.ToString()
Write-ChanguardLog "Reports: $junitPath, $mdPath" -Level Step

$checks.ToArray()
if (@($checks | Where-Object { $_.Status -ne 'Passed' }).Count -gt 0) { exit 1 }
