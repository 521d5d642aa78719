<#
.SYNOPSIS
    Shared helpers for the changuard Hyper-V test kit (scripts/*.ps1).

.DESCRIPTION
    Host-side helpers: logging, bounded waits, PowerShell Direct sessions into the test VM,
    guest reboots with boot detection, driver status and bugcheck evidence collection,
    checkpoint handling, the boot-loop matrix, and report writers (JUnit XML, Markdown).

    Works in Windows PowerShell 5.1 and PowerShell 7 (no PS7-only syntax). Every wait has a
    timeout. Script blocks that run in the guest are self-contained: the guest runs Windows
    PowerShell 5.1 and does not have this module; Initialize-ChanguardGuestSession defines
    the guest-side helper Invoke-GuestNative in each new session.

    Import with: Import-Module (Join-Path $PSScriptRoot 'ChanguardTest.psm1') -Force
#>

Set-StrictMode -Version Latest

$script:ServiceName = 'changuard'
$script:ServiceKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\changuard'
$script:ParametersKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\changuard\Parameters'
# 0xC4A6D000 written in decimal: PowerShell reads hex literals >= 0x80000000 as negative Int32.
$script:TestHookBugcheckCode = [int64]3299266560
$script:LogFile = $null

# Defaults shared by every script so that they agree without passing everything around.
$script:Defaults = @{
    GuestToolsDirectory = 'C:\changuard'
    GuestContentDirectory = 'C:\ProgramData\changuard\content'
    # driver/src/platform.rs LKG_DIR = \SystemRoot\changuard\lkg (files C-<channel>.lkg|.tmp).
    GuestLkgDirectory = 'C:\Windows\changuard\lkg'
    CleanCheckpoint = 'clean'
}

function Get-ChanguardDefault {
    <#
    .SYNOPSIS
        Returns the kit-wide default for a named setting (guest paths, checkpoint name).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateSet('GuestToolsDirectory', 'GuestContentDirectory', 'GuestLkgDirectory', 'CleanCheckpoint')]
        [string]$Name
    )
    return $script:Defaults[$Name]
}

function Get-ChanguardTestHookBugcheckCode {
    <#
    .SYNOPSIS
        The private bugcheck code raised by the test-hooks build (0xC4A6D000).
    #>
    [CmdletBinding()]
    param()
    return [int64]$script:TestHookBugcheckCode
}

function Set-ChanguardLogFile {
    <#
    .SYNOPSIS
        Also append every Write-ChanguardLog line to this file (created if missing).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
    $dir = Split-Path -Parent $full
    if (-not (Test-Path -LiteralPath $dir)) {
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
    }
    $script:LogFile = $full
}

function Write-ChanguardLog {
    <#
    .SYNOPSIS
        Timestamped progress line to the host (and the log file, if one is set).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true, Position = 0)][AllowEmptyString()][string]$Message,
        [ValidateSet('Info', 'Step', 'Warn', 'Error', 'Pass', 'Fail')][string]$Level = 'Info'
    )
    $line = '{0} [{1}] {2}' -f (Get-Date).ToString('yyyy-MM-dd HH:mm:ss'), $Level.ToUpperInvariant(), $Message
    switch ($Level) {
        'Warn' { Write-Warning $Message }
        'Error' { Write-Host $line -ForegroundColor Red }
        'Fail' { Write-Host $line -ForegroundColor Red }
        'Pass' { Write-Host $line -ForegroundColor Green }
        'Step' { Write-Host $line -ForegroundColor Cyan }
        default { Write-Host $line }
    }
    if ($null -ne $script:LogFile) {
        Add-Content -LiteralPath $script:LogFile -Value $line -Encoding UTF8
    }
}

function Test-ChanguardElevated {
    <#
    .SYNOPSIS
        True when the current process runs elevated (Administrator).
    #>
    [CmdletBinding()]
    param()
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Assert-ChanguardHyperVHost {
    <#
    .SYNOPSIS
        Throws a clear error unless this is an elevated Windows host with the Hyper-V module.
    #>
    [CmdletBinding()]
    param()
    if ([Environment]::OSVersion.Platform -ne [PlatformID]::Win32NT) {
        throw 'The changuard test kit drives Hyper-V and must run on a Windows host.'
    }
    if (-not (Test-ChanguardElevated)) {
        throw 'Run this from an elevated PowerShell (Run as Administrator): Hyper-V and PowerShell Direct need it.'
    }
    if ($null -eq (Get-Module -ListAvailable -Name Hyper-V)) {
        throw ("The Hyper-V PowerShell module is missing. Enable it with: " +
            "Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V-All (then reboot).")
    }
    Import-Module Hyper-V -ErrorAction Stop
}

function Resolve-ChanguardPath {
    <#
    .SYNOPSIS
        Full file-system path for a (possibly relative, possibly not yet existing) path.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    return $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

function Write-ChanguardTextFile {
    <#
    .SYNOPSIS
        Writes text as UTF-8 without BOM (same bytes from 5.1 and 7), creating the directory.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$Text
    )
    $full = Resolve-ChanguardPath -Path $Path
    $dir = Split-Path -Parent $full
    if (-not (Test-Path -LiteralPath $dir)) {
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
    }
    [System.IO.File]::WriteAllText($full, $Text, (New-Object System.Text.UTF8Encoding($false)))
    return $full
}

function Get-ChanguardProperty {
    <#
    .SYNOPSIS
        A property of an object, or -Default when it is absent (safe under StrictMode).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][AllowNull()][object]$InputObject,
        [Parameter(Mandatory = $true)][string]$Name,
        [AllowNull()][object]$Default = $null
    )
    if ($null -eq $InputObject) { return $Default }
    if ($InputObject -is [System.Collections.IDictionary]) {
        if ($InputObject.Contains($Name)) { return $InputObject[$Name] }
        return $Default
    }
    $prop = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $prop) { return $Default }
    return $prop.Value
}

function Wait-ChanguardCondition {
    <#
    .SYNOPSIS
        Polls a script block until it returns a truthy value; throws after -TimeoutSeconds.

    .DESCRIPTION
        Exceptions thrown by the condition count as "not yet" and the last one is quoted in
        the timeout error, so a wait never hangs and never hides why it failed.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][scriptblock]$Condition,
        [Parameter(Mandatory = $true)][string]$Description,
        [ValidateRange(1, 86400)][int]$TimeoutSeconds = 600,
        [ValidateRange(1, 3600)][int]$IntervalSeconds = 5
    )
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    $lastError = $null
    while ($true) {
        try {
            $result = & $Condition
            if ($result) { return $result }
        } catch {
            $lastError = $_
        }
        if ((Get-Date) -ge $deadline) {
            $detail = ''
            if ($null -ne $lastError) { $detail = " Last error: $($lastError.Exception.Message)" }
            throw "Timed out after $TimeoutSeconds s waiting for $Description.$detail"
        }
        Start-Sleep -Seconds $IntervalSeconds
    }
}

function Invoke-ChanguardNative {
    <#
    .SYNOPSIS
        Runs a host executable, returns {ExitCode, Output}, throws on a disallowed exit code.

    .DESCRIPTION
        Lowers $ErrorActionPreference around the call: in Windows PowerShell 5.1 a native
        command writing to stderr under 'Stop' with 2>&1 would otherwise throw.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [string[]]$ArgumentList = @(),
        [int[]]$AllowedExitCodes = @(0)
    )
    $eap = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $all = @(& $FilePath @ArgumentList 2>&1)
        $code = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $eap
    }
    $text = (@($all | ForEach-Object { "$_" }) -join [Environment]::NewLine)
    if ($AllowedExitCodes -notcontains $code) {
        throw ("'{0} {1}' exited with {2}: {3}" -f $FilePath, ($ArgumentList -join ' '), $code, $text)
    }
    return [pscustomobject]@{ ExitCode = $code; Output = $text }
}

# Defined in every guest session by Initialize-ChanguardGuestSession. Runs in the guest's
# Windows PowerShell 5.1, so it must not use anything from this module.
$script:GuestPrelude = {
    Set-StrictMode -Version Latest
    $ErrorActionPreference = 'Stop'
    function global:Invoke-GuestNative {
        param(
            [Parameter(Mandatory = $true)][string]$FilePath,
            [string[]]$ArgumentList = @(),
            [int[]]$AllowedExitCodes = @(0),
            [switch]$AnyExitCode
        )
        $eap = $ErrorActionPreference
        $ErrorActionPreference = 'Continue'
        try {
            $all = @(& $FilePath @ArgumentList 2>&1)
            $code = $LASTEXITCODE
        } finally {
            $ErrorActionPreference = $eap
        }
        $stdout = @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] } | ForEach-Object { "$_" })
        $stderr = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { "$_" })
        $nl = [Environment]::NewLine
        if (-not $AnyExitCode -and ($AllowedExitCodes -notcontains $code)) {
            throw ("'{0} {1}' exited with {2}: {3} {4}" -f $FilePath, ($ArgumentList -join ' '), $code,
                ($stdout -join $nl), ($stderr -join $nl))
        }
        [pscustomobject]@{ ExitCode = $code; Output = ($stdout -join $nl); Error = ($stderr -join $nl) }
    }
}

function Initialize-ChanguardGuestSession {
    <#
    .SYNOPSIS
        Defines the guest-side helpers (Invoke-GuestNative, StrictMode, Stop) in a session.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][System.Management.Automation.Runspaces.PSSession]$Session)
    Invoke-Command -Session $Session -ScriptBlock $script:GuestPrelude -ErrorAction Stop
}

function New-ChanguardGuestSession {
    <#
    .SYNOPSIS
        Opens a PowerShell Direct session to the VM, retrying until -TimeoutSeconds.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$VMName,
        [Parameter(Mandatory = $true)][pscredential]$Credential,
        [ValidateRange(5, 7200)][int]$TimeoutSeconds = 600
    )
    $session = Wait-ChanguardCondition -Description "a PowerShell Direct session to VM '$VMName'" `
        -TimeoutSeconds $TimeoutSeconds -IntervalSeconds 5 -Condition {
        $vm = Get-VM -Name $VMName -ErrorAction Stop
        if ($vm.State -ne 'Running') {
            throw "VM '$VMName' is $($vm.State), not Running"
        }
        New-PSSession -VMName $VMName -Credential $Credential -ErrorAction Stop
    }
    Initialize-ChanguardGuestSession -Session $session
    return $session
}

function Get-ChanguardVmHeartbeat {
    <#
    .SYNOPSIS
        The Hyper-V heartbeat of the VM as text (e.g. OkApplicationsUnknown), or 'Unknown'.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$VMName)
    $vm = Get-VM -Name $VMName -ErrorAction Stop
    $hb = $vm.PSObject.Properties['Heartbeat']
    if ($null -eq $hb -or $null -eq $hb.Value) { return 'Unknown' }
    return [string]$hb.Value
}

function Get-ChanguardGuestClock {
    <#
    .SYNOPSIS
        The guest's current time and last boot time (guest clock, so event filters are exact).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][System.Management.Automation.Runspaces.PSSession]$Session)
    Invoke-Command -Session $Session -ErrorAction Stop -ScriptBlock {
        $os = Get-CimInstance -ClassName Win32_OperatingSystem
        [pscustomobject]@{ Now = (Get-Date); LastBootUpTime = $os.LastBootUpTime }
    }
}

function Wait-ChanguardGuestBoot {
    <#
    .SYNOPSIS
        Waits until the VM runs, its heartbeat is OK and PowerShell Direct works, on a boot
        newer than -AfterBootTime; then until that boot has stayed up -StableSeconds.

    .DESCRIPTION
        A guest that bugchecks and reboots (possibly more than once) is followed: the wait
        only ends on a boot that survives -StableSeconds, or throws after -TimeoutSeconds.
        Returns {Session, LastBootUpTime, Boots} where Boots counts distinct boots seen.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$VMName,
        [Parameter(Mandatory = $true)][pscredential]$Credential,
        [AllowNull()][Nullable[datetime]]$AfterBootTime = $null,
        [ValidateRange(0, 86400)][int]$StableSeconds = 60,
        [ValidateRange(30, 86400)][int]$TimeoutSeconds = 900
    )
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    $bootsSeen = @{}
    while ($true) {
        $remaining = [int][Math]::Max(5, ($deadline - (Get-Date)).TotalSeconds)
        if ((Get-Date) -ge $deadline) {
            throw ("VM '$VMName' did not reach a stable boot within $TimeoutSeconds s " +
                "(boots seen: $($bootsSeen.Count); heartbeat: $(Get-ChanguardVmHeartbeat -VMName $VMName)). " +
                'A guest stuck in a boot loop or in WinRE looks like this: open the VM console.')
        }
        $vm = Get-VM -Name $VMName -ErrorAction Stop
        if ($vm.State -eq 'Off') {
            throw "VM '$VMName' is Off (did it bugcheck with AutoReboot disabled, or was it turned off?)"
        }
        $session = $null
        try {
            $session = New-ChanguardGuestSession -VMName $VMName -Credential $Credential -TimeoutSeconds $remaining
            $clock = Get-ChanguardGuestClock -Session $session
        } catch {
            if ($null -ne $session) { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
            if ((Get-Date) -ge $deadline) { throw }
            Start-Sleep -Seconds 5
            continue
        }
        $boot = [datetime]$clock.LastBootUpTime
        $bootsSeen[$boot.ToString('o')] = $true
        if ($null -ne $AfterBootTime -and $boot -le $AfterBootTime) {
            # Still the old boot: the reboot has not happened yet.
            Remove-PSSession -Session $session -ErrorAction SilentlyContinue
            Start-Sleep -Seconds 5
            continue
        }
        $uptime = ([datetime]$clock.Now - $boot).TotalSeconds
        if ($uptime -lt $StableSeconds) {
            $wait = [int][Math]::Ceiling($StableSeconds - $uptime)
            Remove-PSSession -Session $session -ErrorAction SilentlyContinue
            Write-ChanguardLog "Guest up $([int]$uptime) s; waiting $wait s more for a stable boot."
            Start-Sleep -Seconds ([Math]::Min($wait, [Math]::Max(1, $remaining)))
            continue
        }
        return [pscustomobject]@{ Session = $session; LastBootUpTime = $boot; Boots = $bootsSeen.Count }
    }
}

function Restart-ChanguardGuest {
    <#
    .SYNOPSIS
        Reboots the guest from inside (shutdown /r) and waits for a stable new boot.
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    param(
        [Parameter(Mandatory = $true)][string]$VMName,
        [Parameter(Mandatory = $true)][pscredential]$Credential,
        [ValidateRange(0, 86400)][int]$StableSeconds = 60,
        [ValidateRange(30, 86400)][int]$TimeoutSeconds = 900
    )
    if (-not $PSCmdlet.ShouldProcess($VMName, 'Restart guest')) { return $null }
    $session = New-ChanguardGuestSession -VMName $VMName -Credential $Credential -TimeoutSeconds 300
    try {
        $before = (Get-ChanguardGuestClock -Session $session).LastBootUpTime
        Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {
            Invoke-GuestNative -FilePath 'shutdown.exe' -ArgumentList @('/r', '/f', '/t', '2', '/d', 'p:4:1') | Out-Null
        }
    } finally {
        Remove-PSSession -Session $session -ErrorAction SilentlyContinue
    }
    Write-ChanguardLog "Guest reboot requested (previous boot $($before.ToString('s')))."
    return Wait-ChanguardGuestBoot -VMName $VMName -Credential $Credential -AfterBootTime $before `
        -StableSeconds $StableSeconds -TimeoutSeconds $TimeoutSeconds
}

function Restore-ChanguardCheckpoint {
    <#
    .SYNOPSIS
        Turns the VM off, applies the named checkpoint, and (unless -NoStart) starts it.
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    param(
        [Parameter(Mandatory = $true)][string]$VMName,
        [Parameter(Mandatory = $true)][string]$CheckpointName,
        [switch]$NoStart
    )
    $snap = Get-VMSnapshot -VMName $VMName -Name $CheckpointName -ErrorAction SilentlyContinue
    if ($null -eq $snap) {
        throw "VM '$VMName' has no checkpoint named '$CheckpointName'. Create it with New-ChanguardTestVm.ps1 (checkpoint 'clean')."
    }
    if (-not $PSCmdlet.ShouldProcess("$VMName / $CheckpointName", 'Restore checkpoint')) { return }
    $vm = Get-VM -Name $VMName -ErrorAction Stop
    if ($vm.State -ne 'Off') {
        Stop-VM -Name $VMName -TurnOff -Force -ErrorAction Stop
    }
    @($snap)[0] | Restore-VMSnapshot -Confirm:$false -ErrorAction Stop
    if (-not $NoStart) {
        $vm = Get-VM -Name $VMName -ErrorAction Stop
        if ($vm.State -ne 'Running') { Start-VM -Name $VMName -ErrorAction Stop }
    }
}

function Save-ChanguardCheckpoint {
    <#
    .SYNOPSIS
        Shuts the guest down cleanly (bounded), replaces any checkpoint of that name, takes it.
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    param(
        [Parameter(Mandatory = $true)][string]$VMName,
        [Parameter(Mandatory = $true)][string]$CheckpointName,
        [ValidateRange(30, 3600)][int]$ShutdownTimeoutSeconds = 300
    )
    if (-not $PSCmdlet.ShouldProcess("$VMName / $CheckpointName", 'Shut down and take checkpoint')) { return }
    $vm = Get-VM -Name $VMName -ErrorAction Stop
    if ($vm.State -ne 'Off') {
        Stop-VM -Name $VMName -Force -AsJob -ErrorAction Stop | Out-Null
        try {
            Wait-ChanguardCondition -Description "VM '$VMName' to shut down" -TimeoutSeconds $ShutdownTimeoutSeconds `
                -IntervalSeconds 5 -Condition { (Get-VM -Name $VMName).State -eq 'Off' } | Out-Null
        } catch {
            Write-ChanguardLog "Clean shutdown timed out; turning the VM off." -Level Warn
            Stop-VM -Name $VMName -TurnOff -Force -ErrorAction Stop
        }
    }
    $old = Get-VMSnapshot -VMName $VMName -Name $CheckpointName -ErrorAction SilentlyContinue
    if ($null -ne $old) { $old | Remove-VMSnapshot -Confirm:$false -ErrorAction Stop }
    Checkpoint-VM -Name $VMName -SnapshotName $CheckpointName -ErrorAction Stop
    Write-ChanguardLog "Checkpoint '$CheckpointName' saved on '$VMName'."
}

function Copy-ChanguardToGuest {
    <#
    .SYNOPSIS
        Copies host files into a guest directory over PowerShell Direct (creates the directory).
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    param(
        [Parameter(Mandatory = $true)][System.Management.Automation.Runspaces.PSSession]$Session,
        [Parameter(Mandatory = $true)][string[]]$Path,
        [Parameter(Mandatory = $true)][string]$GuestDirectory,
        [string]$GuestFileName
    )
    if (-not $PSCmdlet.ShouldProcess($GuestDirectory, "Copy $($Path -join ', ') into guest")) { return }
    Invoke-Command -Session $Session -ErrorAction Stop -ArgumentList $GuestDirectory -ScriptBlock {
        param($dir)
        if (-not (Test-Path -LiteralPath $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
    }
    foreach ($p in $Path) {
        if (-not (Test-Path -LiteralPath $p)) { throw "Host file not found: $p" }
        $name = Split-Path -Leaf $p
        if ($GuestFileName) { $name = $GuestFileName }
        $dest = Join-Path $GuestDirectory $name
        Copy-Item -LiteralPath $p -Destination $dest -ToSession $Session -Force -Recurse -ErrorAction Stop
    }
}

function Get-ChanguardGuestStatus {
    <#
    .SYNOPSIS
        Reads `changuard driver status --json` in the guest (registry Parameters\Status as
        fallback) and returns {Source, Raw, Status, Error}; Status is the parsed object or $null.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][System.Management.Automation.Runspaces.PSSession]$Session,
        [string]$GuestCliPath = (Join-Path $script:Defaults.GuestToolsDirectory 'bin\changuard.exe')
    )
    $r = Invoke-Command -Session $Session -ErrorAction Stop -ArgumentList $GuestCliPath -ScriptBlock {
        param($cli)
        $out = [ordered]@{ Source = ''; Raw = ''; Error = '' }
        if (Test-Path -LiteralPath $cli) {
            $n = Invoke-GuestNative -FilePath $cli -ArgumentList @('driver', 'status', '--json') -AnyExitCode
            if ($n.ExitCode -eq 0 -and $n.Output.Trim()) {
                $out.Source = 'cli'
                $out.Raw = $n.Output
            } else {
                $out.Error = "changuard driver status --json exited $($n.ExitCode): $($n.Error)"
            }
        } else {
            $out.Error = "CLI not found in guest at $cli"
        }
        if (-not $out.Raw) {
            # The driver mirrors its status under Parameters\Status: Channel<id> REG_SZ values
            # like "source=lkg active=7 lkg=7 trial=- reject=206/12@64 quarantined=9,8".
            $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\changuard\Parameters\Status'
            $p = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
            if ($null -ne $p) {
                $chans = @()
                foreach ($prop in $p.PSObject.Properties) {
                    if ($prop.Name -notmatch '^Channel(\d+)$') { continue }
                    $o = [ordered]@{ channel = [int64]$Matches[1] }
                    foreach ($pair in ([string]$prop.Value -split ' ')) {
                        $kv = $pair -split '=', 2
                        if ($kv.Count -eq 2) { $o[$kv[0]] = $kv[1] }
                    }
                    $chans += [pscustomobject]$o
                }
                $out.Source = 'registry'
                $out.Raw = ([pscustomobject]@{ channels = $chans } | ConvertTo-Json -Depth 4 -Compress)
            }
        }
        [pscustomobject]$out
    }
    $parsed = $null
    $err = [string]$r.Error
    if ($r.Raw) {
        try {
            $parsed = $r.Raw | ConvertFrom-Json -ErrorAction Stop
        } catch {
            $err = "$err; status is not JSON: $($_.Exception.Message)"
        }
    }
    return [pscustomobject]@{ Source = [string]$r.Source; Raw = [string]$r.Raw; Status = $parsed; Error = $err }
}

function Get-ChanguardChannelStatus {
    <#
    .SYNOPSIS
        The entry for one channel from a parsed driver status object, or $null.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][AllowNull()][object]$Status,
        [Parameter(Mandatory = $true)][int]$Channel
    )
    $channels = @(Get-ChanguardProperty -InputObject $Status -Name 'channels' -Default @())
    foreach ($c in $channels) {
        if ([int64](Get-ChanguardProperty -InputObject $c -Name 'channel' -Default -1) -eq $Channel) {
            return (ConvertTo-ChanguardChannelView -Channel $c)
        }
    }
    return $null
}

function ConvertTo-ChanguardChannelView {
    <#
    .SYNOPSIS
        Normalizes one channel entry of the driver status to the matrix vocabulary:
        {channel, active_version, active_source, lkg_version, quarantined, last_rejection,
        trial_attempt}. Pure: no I/O.

    .DESCRIPTION
        Accepts the CLI's JSON (`source`, `active_version`, `lkg_version` null|int,
        `quarantined` [..], `last_rejection` {reason, rule, offset}|null, `trial_attempt`),
        the registry mirror (`source=lkg active=7 lkg=- trial=- reject=206/12@64
        quarantined=9,8`, all strings), and an `active_source` spelling. A channel whose
        source is none has no active version (null), whatever number the driver reports.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][object]$Channel)
    $source = Get-ChanguardProperty -InputObject $Channel -Name 'active_source'
    if ($null -eq $source) { $source = Get-ChanguardProperty -InputObject $Channel -Name 'source' }
    $source = [string]$source
    $active = ConvertTo-ChanguardVersion (Get-ChanguardProperty -InputObject $Channel -Name 'active_version')
    if ($null -eq $active) { $active = ConvertTo-ChanguardVersion (Get-ChanguardProperty -InputObject $Channel -Name 'active') }
    if ($source -eq 'none') { $active = $null }
    $lkg = Get-ChanguardProperty -InputObject $Channel -Name 'lkg_version'
    if ($null -eq $lkg) { $lkg = Get-ChanguardProperty -InputObject $Channel -Name 'lkg' }
    $q = Get-ChanguardProperty -InputObject $Channel -Name 'quarantined' -Default @()
    if ($q -is [string]) { $q = @($q -split ',' | Where-Object { $_ -match '^\d+$' }) }
    $rej = Get-ChanguardProperty -InputObject $Channel -Name 'last_rejection'
    if ($null -eq $rej) {
        $r = [string](Get-ChanguardProperty -InputObject $Channel -Name 'reject' -Default '')
        if ($r -and $r -ne '-') { $rej = $r }
    }
    $trial = Get-ChanguardProperty -InputObject $Channel -Name 'trial_attempt'
    if ($null -eq $trial) { $trial = Get-ChanguardProperty -InputObject $Channel -Name 'trial' }
    return [pscustomobject]@{
        channel = [int64](Get-ChanguardProperty -InputObject $Channel -Name 'channel' -Default -1)
        active_version = $active
        active_source = $source
        lkg_version = (ConvertTo-ChanguardVersion $lkg)
        quarantined = @(@($q) | Where-Object { $null -ne $_ } | ForEach-Object { [int64]$_ })
        last_rejection = $rej
        trial_attempt = (ConvertTo-ChanguardVersion $trial)
    }
}

function ConvertTo-ChanguardVersion {
    <#
    .SYNOPSIS
        An int64 from a status field, or $null for null / '' / '-'.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][AllowNull()][object]$Value)
    if ($null -eq $Value) { return $null }
    $text = [string]$Value
    if ($text -eq '' -or $text -eq '-') { return $null }
    return [int64]$text
}

function Get-ChanguardGuestCrashEvidence {
    <#
    .SYNOPSIS
        Bugchecks recorded in the guest since -Since (guest clock): System event 1001 from
        WER-SystemErrorReporting/BugCheck, Kernel-Power 41 with a non-zero BugcheckCode, and
        minidumps / MEMORY.DMP written since then. Crashes = the largest of the three counts.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][System.Management.Automation.Runspaces.PSSession]$Session,
        [Parameter(Mandatory = $true)][datetime]$Since
    )
    Invoke-Command -Session $Session -ErrorAction Stop -ArgumentList $Since -ScriptBlock {
        param([datetime]$since)
        $wer = @(Get-WinEvent -FilterHashtable @{ LogName = 'System'; Id = 1001; StartTime = $since } -ErrorAction SilentlyContinue |
            Where-Object { $_.ProviderName -match 'WER-SystemErrorReporting|BugCheck' })
        $kp = @(Get-WinEvent -FilterHashtable @{ LogName = 'System'; Id = 41; StartTime = $since } -ErrorAction SilentlyContinue |
            Where-Object { $_.ProviderName -eq 'Microsoft-Windows-Kernel-Power' })
        $kpCrashes = @()
        $powerLosses = 0
        foreach ($e in $kp) {
            $code = [int64]0
            $x = [xml]$e.ToXml()
            foreach ($d in @($x.GetElementsByTagName('Data'))) {
                if ($d.GetAttribute('Name') -eq 'BugcheckCode') { $code = [int64]$d.InnerText }
            }
            if ($code -ne 0) {
                $kpCrashes += ('0x{0:X8} at {1}' -f $code, $e.TimeCreated.ToString('s'))
            } else {
                $powerLosses += 1
            }
        }
        $dumps = @()
        $mini = Join-Path $env:SystemRoot 'Minidump'
        if (Test-Path -LiteralPath $mini) {
            $dumps += @(Get-ChildItem -LiteralPath $mini -Filter '*.dmp' -ErrorAction SilentlyContinue |
                Where-Object { $_.LastWriteTime -ge $since } | ForEach-Object { $_.FullName })
        }
        $full = Join-Path $env:SystemRoot 'MEMORY.DMP'
        $fullNew = (Test-Path -LiteralPath $full) -and ((Get-Item -LiteralPath $full).LastWriteTime -ge $since)
        $miniCount = @($dumps).Count
        $crashes = [Math]::Max([Math]::Max($wer.Count, $kpCrashes.Count), $miniCount)
        if ($crashes -eq 0 -and $fullNew) { $crashes = 1 }
        if ($fullNew) { $dumps += $full }
        [pscustomobject]@{
            Crashes = [int]$crashes
            BugcheckEvents = @($wer | ForEach-Object { ('{0} {1}' -f $_.TimeCreated.ToString('s'), (($_.Message -split "`n")[0]).Trim()) })
            KernelPowerBugchecks = @($kpCrashes)
            UnexpectedPowerLosses = [int]$powerLosses
            Dumps = @($dumps)
        }
    }
}

function Read-ChanguardMatrix {
    <#
    .SYNOPSIS
        Loads scripts/bootloop-matrix.json and checks the fields every script relies on.
    #>
    [CmdletBinding()]
    param([string]$Path = (Join-Path $PSScriptRoot 'bootloop-matrix.json'))
    if (-not (Test-Path -LiteralPath $Path)) { throw "Boot-loop matrix not found: $Path" }
    $doc = Get-Content -LiteralPath $Path -Raw -Encoding UTF8 | ConvertFrom-Json -ErrorAction Stop
    foreach ($key in @('about', 'channel', 'baseline', 'cases')) {
        if ($null -eq $doc.PSObject.Properties[$key]) { throw "Matrix $Path lacks top-level '$key'." }
    }
    $i = 0
    foreach ($case in @($doc.cases)) {
        foreach ($key in @('name', 'sim_scenario', 'description', 'apply', 'content', 'expect')) {
            if ($null -eq $case.PSObject.Properties[$key]) { throw "Matrix case #$i lacks '$key'." }
        }
        foreach ($key in @('active_version', 'active_source', 'max_crashes', 'quarantined', 'lkg_version')) {
            if ($null -eq $case.expect.PSObject.Properties[$key]) { throw "Matrix case '$($case.name)' expect lacks '$key'." }
        }
        $i += 1
    }
    return $doc
}

function Test-ChanguardCaseOutcome {
    <#
    .SYNOPSIS
        Compares an observed channel status + crash count with a matrix `expect` object.
        Returns a list of mismatch messages (empty = pass). Pure: no I/O.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][object]$Expect,
        [Parameter(Mandatory = $true)][AllowNull()][object]$ChannelStatus,
        [Parameter(Mandatory = $true)][int]$Crashes
    )
    $problems = New-Object System.Collections.Generic.List[string]
    $maxCrashes = [int]$Expect.max_crashes
    if ($Crashes -gt $maxCrashes) {
        $problems.Add("crashes: observed $Crashes bugcheck(s), at most $maxCrashes allowed")
    }
    if ($null -eq $ChannelStatus) {
        if ($Expect.active_source -ne 'none' -or $null -ne $Expect.lkg_version) {
            $problems.Add('status: the channel is missing from the driver status')
        }
        return , $problems.ToArray()
    }
    $pairs = @(
        @('active_version', $Expect.active_version),
        @('active_source', $Expect.active_source),
        @('lkg_version', $Expect.lkg_version)
    )
    foreach ($pair in $pairs) {
        $name = $pair[0]
        $want = $pair[1]
        $got = Get-ChanguardProperty -InputObject $ChannelStatus -Name $name -Default $null
        $same = $false
        if ($null -eq $want -or $null -eq $got) {
            $same = ($null -eq $want) -and ($null -eq $got)
        } elseif ($want -is [string] -or $got -is [string]) {
            $same = ([string]$want -eq [string]$got)
        } else {
            $same = ([int64]$want -eq [int64]$got)
        }
        if (-not $same) {
            $problems.Add(("{0}: expected {1}, observed {2}" -f $name, (Format-ChanguardValue $want), (Format-ChanguardValue $got)))
        }
    }
    $wantQ = @(@($Expect.quarantined) | Where-Object { $null -ne $_ } | ForEach-Object { [int64]$_ } | Sort-Object)
    $gotQ = @(@(Get-ChanguardProperty -InputObject $ChannelStatus -Name 'quarantined' -Default @()) |
        Where-Object { $null -ne $_ } | ForEach-Object { [int64]$_ } | Sort-Object)
    if (($wantQ -join ',') -ne ($gotQ -join ',')) {
        $problems.Add(("quarantined: expected [{0}], observed [{1}]" -f ($wantQ -join ', '), ($gotQ -join ', ')))
    }
    return , $problems.ToArray()
}

function Format-ChanguardValue {
    <#
    .SYNOPSIS
        Short display form of a status value (null, list, scalar).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][AllowNull()][object]$Value)
    if ($null -eq $Value) { return 'null' }
    if ($Value -is [System.Array]) { return '[' + (@($Value) -join ', ') + ']' }
    return [string]$Value
}

function ConvertTo-ChanguardXmlText {
    <#
    .SYNOPSIS
        Escapes text for XML attributes and element content.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][AllowNull()][AllowEmptyString()][string]$Text)
    if ($null -eq $Text) { return '' }
    # Drop characters XML 1.0 cannot carry at all, then escape.
    $clean = [regex]::Replace($Text, '[\x00-\x08\x0B\x0C\x0E-\x1F]', '?')
    return [System.Security.SecurityElement]::Escape($clean)
}

function ConvertTo-ChanguardJUnitXml {
    <#
    .SYNOPSIS
        JUnit XML for a list of results {Name, ClassName, Status (Passed|Failed|Skipped|Error),
        Seconds, Message, Details}.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$SuiteName,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Results
    )
    $failures = @($Results | Where-Object { $_.Status -eq 'Failed' }).Count
    $errors = @($Results | Where-Object { $_.Status -eq 'Error' }).Count
    $skipped = @($Results | Where-Object { $_.Status -eq 'Skipped' }).Count
    $total = 0.0
    foreach ($r in $Results) { $total += [double]$r.Seconds }
    $inv = [System.Globalization.CultureInfo]::InvariantCulture
    $sb = New-Object System.Text.StringBuilder
    [void]$sb.AppendLine('<?xml version="1.0" encoding="UTF-8"?>')
    [void]$sb.AppendLine(('<testsuites name="{0}" tests="{1}" failures="{2}" errors="{3}" skipped="{4}" time="{5}">' -f
            (ConvertTo-ChanguardXmlText $SuiteName), @($Results).Count, $failures, $errors, $skipped, $total.ToString('0.###', $inv)))
    [void]$sb.AppendLine(('  <testsuite name="{0}" tests="{1}" failures="{2}" errors="{3}" skipped="{4}" time="{5}" timestamp="{6}">' -f
            (ConvertTo-ChanguardXmlText $SuiteName), @($Results).Count, $failures, $errors, $skipped, $total.ToString('0.###', $inv),
            (Get-Date).ToString('s')))
    foreach ($r in $Results) {
        [void]$sb.Append(('    <testcase classname="{0}" name="{1}" time="{2}">' -f (ConvertTo-ChanguardXmlText $r.ClassName),
                (ConvertTo-ChanguardXmlText $r.Name), ([double]$r.Seconds).ToString('0.###', $inv)))
        switch ($r.Status) {
            'Failed' {
                [void]$sb.Append(('<failure message="{0}">{1}</failure>' -f (ConvertTo-ChanguardXmlText $r.Message), (ConvertTo-ChanguardXmlText $r.Details)))
            }
            'Error' {
                [void]$sb.Append(('<error message="{0}">{1}</error>' -f (ConvertTo-ChanguardXmlText $r.Message), (ConvertTo-ChanguardXmlText $r.Details)))
            }
            'Skipped' {
                [void]$sb.Append(('<skipped message="{0}"/>' -f (ConvertTo-ChanguardXmlText $r.Message)))
            }
            default { }
        }
        if ($r.Details -and $r.Status -eq 'Passed') {
            [void]$sb.Append(('<system-out>{0}</system-out>' -f (ConvertTo-ChanguardXmlText $r.Details)))
        }
        [void]$sb.AppendLine('</testcase>')
    }
    [void]$sb.AppendLine('  </testsuite>')
    [void]$sb.AppendLine('</testsuites>')
    return $sb.ToString()
}

function Get-ChanguardRepoRoot {
    <#
    .SYNOPSIS
        The repository root (parent of scripts/).
    #>
    [CmdletBinding()]
    param()
    return (Split-Path -Parent $PSScriptRoot)
}

function Find-ChanguardPackage {
    <#
    .SYNOPSIS
        Locates the driver package files (changuard.sys/.inf/.cat + test certificate) and the
        CLI, with a clear error naming what is missing.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$PackagePath,
        [string]$CliPath,
        [string]$CertificatePath
    )
    $pkg = Resolve-ChanguardPath -Path $PackagePath
    if (-not (Test-Path -LiteralPath $pkg -PathType Container)) {
        throw "Package directory not found: $pkg (build it with 'cargo make' in driver/; it is target\<profile>\changuard_package)."
    }
    $sys = Join-Path $pkg 'changuard.sys'
    if (-not (Test-Path -LiteralPath $sys)) { throw "changuard.sys not found in $pkg" }
    $inf = Join-Path $pkg 'changuard.inf'
    if (-not (Test-Path -LiteralPath $inf)) { $inf = $null }
    $cat = Join-Path $pkg 'changuard.cat'
    if (-not (Test-Path -LiteralPath $cat)) { $cat = $null }
    if ($CertificatePath) {
        $cer = Resolve-ChanguardPath -Path $CertificatePath
        if (-not (Test-Path -LiteralPath $cer)) { throw "Certificate not found: $cer" }
    } else {
        $cers = @(Get-ChildItem -LiteralPath $pkg -Filter '*.cer' -File | Sort-Object Name)
        if ($cers.Count -eq 0) {
            throw "No test certificate (*.cer, e.g. WDRLocalTestCert.cer) in $pkg; pass -CertificatePath."
        }
        $cer = $cers[0].FullName
    }
    if ($CliPath) {
        $cli = Resolve-ChanguardPath -Path $CliPath
    } else {
        $candidates = @(
            (Join-Path $pkg 'changuard.exe'),
            (Join-Path (Split-Path -Parent $pkg) 'changuard.exe'),
            (Join-Path (Get-ChanguardRepoRoot) 'target\release\changuard.exe'),
            (Join-Path (Get-ChanguardRepoRoot) 'target\debug\changuard.exe')
        )
        $cli = $null
        foreach ($c in $candidates) {
            if (Test-Path -LiteralPath $c) { $cli = $c; break }
        }
        if ($null -eq $cli) {
            throw ("changuard.exe not found (looked in: {0}). Build it with 'cargo build --release -p changuard-cli' or pass -CliPath." -f ($candidates -join '; '))
        }
    }
    if (-not (Test-Path -LiteralPath $cli)) { throw "CLI not found: $cli" }
    return [pscustomobject]@{ Directory = $pkg; Sys = $sys; Inf = $inf; Cat = $cat; Certificate = $cer; Cli = $cli }
}

function Resolve-ChanguardContentFile {
    <#
    .SYNOPSIS
        Host path of a kit file for a case: <kit>\<case>\<name> if present, else <kit>\<name>.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$ContentKitPath,
        [Parameter(Mandatory = $true)][string]$FileName,
        [string]$CaseName
    )
    if ($CaseName) {
        $specific = Join-Path (Join-Path $ContentKitPath $CaseName) $FileName
        if (Test-Path -LiteralPath $specific) {
            return [pscustomobject]@{ Path = $specific; CaseSpecific = $true }
        }
    }
    $generic = Join-Path $ContentKitPath $FileName
    if (Test-Path -LiteralPath $generic) {
        return [pscustomobject]@{ Path = $generic; CaseSpecific = $false }
    }
    $where = $generic
    if ($CaseName) { $where = "$(Join-Path (Join-Path $ContentKitPath $CaseName) $FileName) or $generic" }
    throw "Content kit file not found: $where (see docs/TESTING-ON-WINDOWS.md, 'Content kit')."
}

function New-ChanguardMutatedFile {
    <#
    .SYNOPSIS
        Writes a damaged copy of a file into -OutDirectory: Truncate (first half of the bytes)
        or FlipByte (XOR 0xFF at -Offset; negative offsets count from the end).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][ValidateSet('Truncate', 'FlipByte')][string]$Mutation,
        [Parameter(Mandatory = $true)][string]$OutDirectory,
        [int64]$Offset = -1
    )
    $bytes = [System.IO.File]::ReadAllBytes((Resolve-ChanguardPath -Path $Path))
    if ($bytes.Length -lt 2) { throw "File too small to mutate: $Path" }
    if ($Mutation -eq 'Truncate') {
        $len = [int][Math]::Floor($bytes.Length / 2)
        $outBytes = New-Object byte[] $len
        [System.Array]::Copy($bytes, $outBytes, $len)
    } else {
        $at = $Offset
        if ($at -lt 0) { $at = $bytes.Length + $Offset }
        if ($at -lt 0 -or $at -ge $bytes.Length) {
            throw "Offset $Offset is outside the $($bytes.Length)-byte file $Path"
        }
        $outBytes = $bytes
        $outBytes[$at] = [byte]($outBytes[$at] -bxor 0xFF)
    }
    $outDir = Resolve-ChanguardPath -Path $OutDirectory
    if (-not (Test-Path -LiteralPath $outDir)) { New-Item -ItemType Directory -Path $outDir -Force | Out-Null }
    $out = Join-Path $outDir (Split-Path -Leaf $Path)
    [System.IO.File]::WriteAllBytes($out, $outBytes)
    return $out
}

function Save-ChanguardGuestFile {
    <#
    .SYNOPSIS
        Copies guest files (e.g. dumps) to a host directory over PowerShell Direct; returns
        the host paths. Missing guest files are reported, not fatal.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][System.Management.Automation.Runspaces.PSSession]$Session,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][string[]]$GuestPath,
        [Parameter(Mandatory = $true)][string]$Destination
    )
    $dest = Resolve-ChanguardPath -Path $Destination
    if (-not (Test-Path -LiteralPath $dest)) { New-Item -ItemType Directory -Path $dest -Force | Out-Null }
    $saved = @()
    foreach ($g in $GuestPath) {
        try {
            Copy-Item -FromSession $Session -LiteralPath $g -Destination $dest -Force -ErrorAction Stop
            $saved += (Join-Path $dest (Split-Path -Leaf $g))
        } catch {
            Write-ChanguardLog "Could not copy $g from the guest: $($_.Exception.Message)" -Level Warn
        }
    }
    return , $saved
}

Export-ModuleMember -Function @(
    'Get-ChanguardDefault', 'Get-ChanguardTestHookBugcheckCode', 'Set-ChanguardLogFile', 'Write-ChanguardLog',
    'Test-ChanguardElevated', 'Assert-ChanguardHyperVHost', 'Resolve-ChanguardPath', 'Write-ChanguardTextFile',
    'Get-ChanguardProperty', 'Wait-ChanguardCondition', 'Invoke-ChanguardNative', 'Initialize-ChanguardGuestSession',
    'New-ChanguardGuestSession', 'Get-ChanguardVmHeartbeat', 'Get-ChanguardGuestClock', 'Wait-ChanguardGuestBoot',
    'Restart-ChanguardGuest', 'Restore-ChanguardCheckpoint', 'Save-ChanguardCheckpoint', 'Copy-ChanguardToGuest',
    'Get-ChanguardGuestStatus', 'Get-ChanguardChannelStatus', 'ConvertTo-ChanguardChannelView', 'ConvertTo-ChanguardVersion', 'Get-ChanguardGuestCrashEvidence', 'Read-ChanguardMatrix',
    'Test-ChanguardCaseOutcome', 'Format-ChanguardValue', 'ConvertTo-ChanguardXmlText', 'ConvertTo-ChanguardJUnitXml',
    'Get-ChanguardRepoRoot', 'Find-ChanguardPackage', 'Resolve-ChanguardContentFile', 'New-ChanguardMutatedFile',
    'Save-ChanguardGuestFile'
)
