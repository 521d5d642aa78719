<#
.SYNOPSIS
    Pulls crash dumps out of the test VM and, when WinDbg's kd.exe is installed, writes a
    `!analyze -v` text report next to each dump.

.DESCRIPTION
    Copies %SystemRoot%\MEMORY.DMP (unless -MinidumpsOnly) and %SystemRoot%\Minidump\*.dmp
    from the guest over PowerShell Direct into -OutputDirectory (or analyzes dumps you already
    have, with -DumpPath). For each dump, if kd.exe is found (Debugging Tools for Windows from
    the WDK/SDK, or -KdPath), runs:
        kd -z <dump> -y <symbol path> -i <image path> -c "<commands>; q"
    with a timeout, and saves the output as <dump>.analyze.txt. Default commands:
        .reload; !analyze -v; lm; lmvm changuard; .bugcheck; k
    A changuard test-hook crash shows bugcheck code 0xC4A6D000; Driver Verifier violations
    show 0xC4 (DRIVER_VERIFIER_DETECTED_VIOLATION) with the rule id in parameter 1.

.PARAMETER VMName
    The test VM (running). Not needed with -DumpPath.

.PARAMETER GuestCredential
    Guest local administrator. Not needed with -DumpPath.

.PARAMETER DumpPath
    Analyze these host dump files instead of copying from a VM.

.PARAMETER OutputDirectory
    Where dumps and reports go. Default .\out\dumps-<timestamp>.

.PARAMETER Since
    Only copy dumps written at or after this time (guest clock).

.PARAMETER MinidumpsOnly
    Skip MEMORY.DMP (it can be gigabytes).

.PARAMETER KdPath
    kd.exe to use. Default: Windows Kits\10\Debuggers\x64\kd.exe under Program Files (x86)
    or Program Files, else kd.exe on PATH.

.PARAMETER SymbolPath
    Default: srv*<OutputDirectory>\symbols*https://msdl.microsoft.com/download/symbols plus
    -DriverSymbolPath.

.PARAMETER DriverSymbolPath
    Directory with changuard.pdb (the driver build output, e.g. driver\target\debug).

.PARAMETER KdCommands
    Debugger commands run before `q`.

.PARAMETER AnalyzeTimeoutSeconds
    Kill kd after this long per dump. Default 900 (first runs download symbols).

.PARAMETER NoAnalyze
    Only copy the dumps.

.EXAMPLE
    .\scripts\Get-ChanguardCrashDump.ps1 -VMName changuard-test -GuestCredential $cred -DriverSymbolPath .\driver\target\debug

.EXAMPLE
    .\scripts\Get-ChanguardCrashDump.ps1 -DumpPath .\out\bootloop-20250101-120000\poison-update\dumps\*.dmp

.NOTES
    Part of the changuard Windows test kit; see docs/TESTING-ON-WINDOWS.md.
#>
[CmdletBinding(DefaultParameterSetName = 'FromVm')]
param(
    [Parameter(Mandatory = $true, ParameterSetName = 'FromVm')]
    [ValidateNotNullOrEmpty()]
    [string]$VMName,

    [Parameter(Mandatory = $true, ParameterSetName = 'FromVm')]
    [pscredential]$GuestCredential,

    [Parameter(Mandatory = $true, ParameterSetName = 'FromFiles')]
    [string[]]$DumpPath,

    [string]$OutputDirectory = (Join-Path (Get-Location) ("out\dumps-{0}" -f (Get-Date -Format 'yyyyMMdd-HHmmss'))),

    [Parameter(ParameterSetName = 'FromVm')]
    [Nullable[datetime]]$Since = $null,

    [Parameter(ParameterSetName = 'FromVm')]
    [switch]$MinidumpsOnly,

    [string]$KdPath,

    [string]$SymbolPath,

    [string]$DriverSymbolPath,

    [ValidateNotNullOrEmpty()]
    [string]$KdCommands = '.reload; !analyze -v; lm; lmvm changuard; .bugcheck; k',

    [ValidateRange(30, 7200)]
    [int]$AnalyzeTimeoutSeconds = 900,

    [switch]$NoAnalyze
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force

$out = Resolve-ChanguardPath -Path $OutputDirectory
New-Item -ItemType Directory -Path $out -Force | Out-Null

$dumps = @()
if ($PSCmdlet.ParameterSetName -eq 'FromFiles') {
    foreach ($p in $DumpPath) {
        $found = @(Get-ChildItem -Path $p -File -ErrorAction SilentlyContinue)
        if ($found.Count -eq 0) { throw "No dump file matches $p" }
        $dumps += @($found | ForEach-Object { $_.FullName })
    }
} else {
    Assert-ChanguardHyperVHost
    $session = New-ChanguardGuestSession -VMName $VMName -Credential $GuestCredential -TimeoutSeconds 300
    try {
        $guestArgs = @([bool]$MinidumpsOnly, $Since)
        $guestDumps = @(Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $guestArgs -ScriptBlock {
                param([bool]$miniOnly, $since)
                $list = @()
                $mini = Join-Path $env:SystemRoot 'Minidump'
                if (Test-Path -LiteralPath $mini) { $list += @(Get-ChildItem -LiteralPath $mini -Filter '*.dmp' -File) }
                $full = Join-Path $env:SystemRoot 'MEMORY.DMP'
                if (-not $miniOnly -and (Test-Path -LiteralPath $full)) { $list += Get-Item -LiteralPath $full }
                if ($null -ne $since) { $list = @($list | Where-Object { $_.LastWriteTime -ge [datetime]$since }) }
                @($list | ForEach-Object { $_.FullName })
            })
        if ($guestDumps.Count -eq 0) {
            Write-ChanguardLog 'The guest has no crash dumps (matching -Since).' -Level Warn
        } else {
            Write-ChanguardLog "Copying $($guestDumps.Count) dump(s) from the guest into $out" -Level Step
            $dumps = @(Save-ChanguardGuestFile -Session $session -GuestPath $guestDumps -Destination $out)
        }
    } finally {
        Remove-PSSession -Session $session -ErrorAction SilentlyContinue
    }
}

$kd = $null
if (-not $NoAnalyze) {
    if ($KdPath) {
        if (-not (Test-Path -LiteralPath $KdPath)) { throw "kd.exe not found at $KdPath" }
        $kd = Resolve-ChanguardPath -Path $KdPath
    } else {
        $roots = @(${env:ProgramFiles(x86)}, $env:ProgramFiles) | Where-Object { $_ }
        foreach ($r in $roots) {
            $cand = Join-Path $r 'Windows Kits\10\Debuggers\x64\kd.exe'
            if (Test-Path -LiteralPath $cand) { $kd = $cand; break }
        }
        if ($null -eq $kd) {
            $cmd = Get-Command kd.exe -ErrorAction SilentlyContinue
            if ($null -ne $cmd) { $kd = $cmd.Source }
        }
    }
    if ($null -eq $kd) {
        Write-ChanguardLog ('kd.exe not found: dumps copied but not analyzed. Install "Debugging Tools for Windows" ' +
            '(WDK/SDK installer) or pass -KdPath; or open the dump in WinDbg and run !analyze -v.') -Level Warn
    }
}

if (-not $SymbolPath) {
    $SymbolPath = 'srv*{0}*https://msdl.microsoft.com/download/symbols' -f (Join-Path $out 'symbols')
}
if ($DriverSymbolPath) { $SymbolPath = "$(Resolve-ChanguardPath -Path $DriverSymbolPath);$SymbolPath" }

$results = @()
foreach ($d in $dumps) {
    $report = $null
    if ($null -ne $kd) {
        $report = "$d.analyze.txt"
        Write-ChanguardLog "Analyzing $d (timeout $AnalyzeTimeoutSeconds s)" -Level Step
        $kdArgs = @('-z', "`"$d`"", '-y', "`"$SymbolPath`"", '-c', "`"$KdCommands; q`"", '-logo', "`"$report`"")
        if ($DriverSymbolPath) { $kdArgs += @('-i', "`"$(Resolve-ChanguardPath -Path $DriverSymbolPath)`"") }
        $p = Start-Process -FilePath $kd -ArgumentList $kdArgs -NoNewWindow -PassThru `
            -RedirectStandardOutput "$report.stdout" -RedirectStandardError "$report.stderr"
        if (-not $p.WaitForExit($AnalyzeTimeoutSeconds * 1000)) {
            Stop-Process -Id $p.Id -Force -ErrorAction SilentlyContinue
            Write-ChanguardLog "kd timed out after $AnalyzeTimeoutSeconds s on $d; partial log: $report" -Level Warn
        }
        if (Test-Path -LiteralPath $report) {
            $text = Get-Content -LiteralPath $report -Raw
            $code = $null
            if ($text -match 'BUGCHECK_CODE:\s+([0-9a-fA-F]+)') { $code = '0x' + $Matches[1].ToUpperInvariant() }
            $hook = ''
            if ($code -and ([Convert]::ToInt64($code.Substring(2), 16) -eq (Get-ChanguardTestHookBugcheckCode))) {
                $hook = ' (changuard test hook: expected only in the poison case)'
            }
            Write-ChanguardLog "  bugcheck $code$hook; report $report"
        }
    }
    $results += [pscustomobject]@{ Dump = $d; Report = $report }
}
$results
