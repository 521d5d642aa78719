<#
.SYNOPSIS
    One entry point for the changuard Windows test kit: VM, install, boot-loop matrix, Verifier.

.DESCRIPTION
    Runs the selected stages in order, each by calling the stand-alone script of the same
    job with the parameters given here:
      Vm       New-ChanguardTestVm.ps1       (skipped when the VM exists, unless -RecreateVm)
      Install  Install-ChanguardDriver.ps1   (from checkpoint 'clean', with -ContentFile)
      BootLoop Invoke-BootLoopTest.ps1       (restores checkpoints itself)
      Verifier Invoke-VerifierRun.ps1        (from checkpoint 'clean' + a fresh install)
    Reports land in -OutputDirectory\<stage>. Exits 1 if any stage failed; a failing stage
    does not stop the later ones, except Vm (nothing can run without the VM).

.PARAMETER VMName
    Test VM name. Default 'changuard-test'.

.PARAMETER GuestCredential
    Guest local administrator.

.PARAMETER Stage
    Any of Vm, Install, BootLoop, Verifier. Default: all four.

.PARAMETER VhdxPath
    Windows VHDX for the Vm stage.

.PARAMETER IsoPath
    Windows ISO for the Vm stage (instead of -VhdxPath).

.PARAMETER RecreateVm
    Re-create the VM even if it exists (New-ChanguardTestVm.ps1 -Force).

.PARAMETER KdnetHostIp
    Passed to New-ChanguardTestVm.ps1.

.PARAMETER PackagePath
    Driver package: driver\target\<profile>\changuard_package.

.PARAMETER TestHooksPackagePath
    Package built with the test-hooks feature (poison case).

.PARAMETER CliPath
    changuard.exe for the guest.

.PARAMETER ContentKitPath
    Channel files for the matrix (docs/TESTING-ON-WINDOWS.md, "Content kit").

.PARAMETER ContentFile
    Channel files for the Install stage. Default: the matrix baseline files from the kit.

.PARAMETER InstallMethod
    ScCreate (default), PnpUtil, InfDefaultInstall.

.PARAMETER Case
    Boot-loop cases to run (default all).

.PARAMETER StressMinutes
    Verifier stress length. Default 10.

.PARAMETER LowResourcesSimulation
    Add Verifier's randomized low resources simulation.

.PARAMETER OutputDirectory
    Default .\out\suite-<timestamp>.

.EXAMPLE
    $cred = Get-Credential .\Administrator
    .\scripts\Invoke-ChanguardTestSuite.ps1 -GuestCredential $cred -VhdxPath D:\images\win11.vhdx `
        -PackagePath .\driver\target\debug\changuard_package `
        -TestHooksPackagePath .\driver\target-testhooks\debug\changuard_package -ContentKitPath .\out\kit

.EXAMPLE
    .\scripts\Invoke-ChanguardTestSuite.ps1 -GuestCredential $cred -Stage BootLoop -PackagePath $pkg -ContentKitPath $kit -WhatIf

.NOTES
    Part of the changuard Windows test kit; see docs/TESTING-ON-WINDOWS.md.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [ValidatePattern('^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')]
    [string]$VMName = 'changuard-test',

    [Parameter(Mandatory = $true)]
    [pscredential]$GuestCredential,

    [ValidateSet('Vm', 'Install', 'BootLoop', 'Verifier')]
    [string[]]$Stage = @('Vm', 'Install', 'BootLoop', 'Verifier'),

    [string]$VhdxPath,

    [string]$IsoPath,

    [switch]$RecreateVm,

    [string]$KdnetHostIp,

    [string]$PackagePath,

    [string]$TestHooksPackagePath,

    [string]$CliPath,

    [string]$ContentKitPath,

    [string[]]$ContentFile = @(),

    [ValidateSet('ScCreate', 'PnpUtil', 'InfDefaultInstall')]
    [string]$InstallMethod = 'ScCreate',

    [string[]]$Case = @(),

    [ValidateRange(1, 1440)]
    [int]$StressMinutes = 10,

    [switch]$LowResourcesSimulation,

    [string]$OutputDirectory = (Join-Path (Get-Location) ("out\suite-{0}" -f (Get-Date -Format 'yyyyMMdd-HHmmss')))
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force

# Check every input the selected stages need before touching anything.
$needPackage = @($Stage | Where-Object { @('Install', 'BootLoop', 'Verifier') -contains $_ }).Count -gt 0
if ($needPackage -and -not $PackagePath) { throw "Stages $($Stage -join ', ') need -PackagePath." }
if (@($Stage) -contains 'BootLoop' -and -not $ContentKitPath) { throw 'The BootLoop stage needs -ContentKitPath.' }
if (@($Stage) -contains 'Vm' -and -not $VhdxPath -and -not $IsoPath) {
    $existing = Get-VM -Name $VMName -ErrorAction SilentlyContinue
    if ($null -eq $existing -or $RecreateVm) { throw 'The Vm stage needs -VhdxPath or -IsoPath.' }
}
if ($VhdxPath -and $IsoPath) { throw 'Pass -VhdxPath or -IsoPath, not both.' }

$matrix = Read-ChanguardMatrix
if (@($ContentFile).Count -eq 0 -and $ContentKitPath) {
    $ContentFile = @(@($matrix.baseline.content) | ForEach-Object {
            (Resolve-ChanguardContentFile -ContentKitPath (Resolve-ChanguardPath -Path $ContentKitPath) -FileName $_).Path
        })
}

# Verifier content swaps: the baseline files plus the routine-update file, when the kit has it.
$swapFiles = @($ContentFile)
if ($ContentKitPath) {
    foreach ($c in @($matrix.cases | Where-Object { $_.apply -eq 'deliver-file' -and $_.sim_scenario -eq 'routine-update' })) {
        $f = Join-Path (Resolve-ChanguardPath -Path $ContentKitPath) $c.content
        if ((Test-Path -LiteralPath $f) -and ($swapFiles -notcontains $f)) { $swapFiles += $f }
    }
}

if (-not $PSCmdlet.ShouldProcess("VM '$VMName'", "Run stages: $($Stage -join ', ')")) {
    return
}

Assert-ChanguardHyperVHost
$out = Resolve-ChanguardPath -Path $OutputDirectory
New-Item -ItemType Directory -Path $out -Force | Out-Null
Set-ChanguardLogFile -Path (Join-Path $out 'suite.log')
$summary = New-Object System.Collections.Generic.List[object]

function Invoke-Stage {
    # Runs one stage script; a throw or a non-zero exit marks the stage failed.
    param([string]$Name, [string]$Script, [hashtable]$Parameters)
    Write-ChanguardLog "##### Stage $Name" -Level Step
    $started = Get-Date
    $status = 'Passed'
    $message = ''
    try {
        $global:LASTEXITCODE = 0
        & (Join-Path $PSScriptRoot $Script) @Parameters | Out-Null
        if ($LASTEXITCODE -ne 0) {
            $status = 'Failed'
            $message = "$Script exited with $LASTEXITCODE (see its report)"
        }
    } catch {
        $status = 'Failed'
        $message = $_.Exception.Message
    }
    $summary.Add([pscustomobject]@{ Stage = $Name; Status = $status; Minutes = [Math]::Round(((Get-Date) - $started).TotalMinutes, 1); Message = $message })
    $level = 'Pass'
    if ($status -ne 'Passed') { $level = 'Fail' }
    Write-ChanguardLog "Stage $Name`: $status $message" -Level $level
    return ($status -eq 'Passed')
}

if (@($Stage) -contains 'Vm') {
    $existing = Get-VM -Name $VMName -ErrorAction SilentlyContinue
    if ($null -ne $existing -and -not $RecreateVm) {
        Write-ChanguardLog "VM '$VMName' exists: Vm stage skipped (use -RecreateVm to rebuild it)."
    } else {
        $p = @{ VMName = $VMName; GuestCredential = $GuestCredential; Confirm = $false }
        if ($VhdxPath) { $p['VhdxPath'] = $VhdxPath } else { $p['IsoPath'] = $IsoPath }
        if ($KdnetHostIp) { $p['KdnetHostIp'] = $KdnetHostIp }
        if ($RecreateVm) { $p['Force'] = $true }
        if (-not (Invoke-Stage -Name 'Vm' -Script 'New-ChanguardTestVm.ps1' -Parameters $p)) {
            throw 'The VM could not be created; later stages cannot run. See the log above.'
        }
    }
}

if (@($Stage) -contains 'Install') {
    Restore-ChanguardCheckpoint -VMName $VMName -CheckpointName 'clean' -Confirm:$false
    $p = @{ VMName = $VMName; GuestCredential = $GuestCredential; PackagePath = $PackagePath; InstallMethod = $InstallMethod
        ContentFile = $ContentFile; ClearContent = $true; Confirm = $false }
    if ($CliPath) { $p['CliPath'] = $CliPath }
    Invoke-Stage -Name 'Install' -Script 'Install-ChanguardDriver.ps1' -Parameters $p | Out-Null
}

if (@($Stage) -contains 'BootLoop') {
    $p = @{ VMName = $VMName; GuestCredential = $GuestCredential; PackagePath = $PackagePath; ContentKitPath = $ContentKitPath
        InstallMethod = $InstallMethod; OutputDirectory = (Join-Path $out 'bootloop'); Confirm = $false }
    if ($TestHooksPackagePath) { $p['TestHooksPackagePath'] = $TestHooksPackagePath }
    if ($CliPath) { $p['CliPath'] = $CliPath }
    if (@($Case).Count -gt 0) { $p['Case'] = $Case }
    Invoke-Stage -Name 'BootLoop' -Script 'Invoke-BootLoopTest.ps1' -Parameters $p | Out-Null
}

if (@($Stage) -contains 'Verifier') {
    # Verifier runs on a fresh install of the non-test-hooks driver.
    Restore-ChanguardCheckpoint -VMName $VMName -CheckpointName 'clean' -Confirm:$false
    $p = @{ VMName = $VMName; GuestCredential = $GuestCredential; PackagePath = $PackagePath; InstallMethod = $InstallMethod
        ContentFile = $ContentFile; ClearContent = $true; Confirm = $false }
    if ($CliPath) { $p['CliPath'] = $CliPath }
    if (Invoke-Stage -Name 'Verifier-install' -Script 'Install-ChanguardDriver.ps1' -Parameters $p) {
        $p = @{ VMName = $VMName; GuestCredential = $GuestCredential; StressMinutes = $StressMinutes
            SwapContentFile = $swapFiles; OutputDirectory = (Join-Path $out 'verifier'); Confirm = $false }
        if ($LowResourcesSimulation) { $p['LowResourcesSimulation'] = $true }
        Invoke-Stage -Name 'Verifier' -Script 'Invoke-VerifierRun.ps1' -Parameters $p | Out-Null
    }
}

Write-ChanguardLog '##### Summary' -Level Step
foreach ($s in $summary) { Write-ChanguardLog ('{0,-16} {1,-7} {2,6} min  {3}' -f $s.Stage, $s.Status, $s.Minutes, $s.Message) }
Write-ChanguardLog "Reports under $out"
$summary.ToArray()
if (@($summary | Where-Object { $_.Status -ne 'Passed' }).Count -gt 0) { exit 1 }
