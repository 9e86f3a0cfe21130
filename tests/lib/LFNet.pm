# LFNet: the servers the socket tests talk to, all on loopback, each
# started by the test and ended by PID (LFTest tracks them).
#
#   my $redis = LFNet::redis($dir);          # { port, pid, dir }
#   my $mc    = LFNet::memcached();           # { port, pid }
#   my $f     = LFNet::fault('silent');       # { port, pid }: accepts, never answers
#                 'drip'   one byte a second, for ever
#                 'cut'    sends half a redis reply, then closes
#                 'flood'  sends without end (a gigabyte and more)
#                 'reset'  reads, then resets the connection (RST)
#   my $lib   = LFNet::resty_libs($dir);      # a package.path entry holding
#                                             # nginx/redis.lua and nginx/memcached.lua
#   LFNet::redis_cli($redis, 'CLIENT', 'LIST')  # the reply's lines
#   LFNet::established_to($port)              # our connections to a port
#
# Debian's lua-nginx-redis and lua-nginx-memcached depend on nginx-extras,
# so their Lua files are unpacked from the packages (apt-get download,
# dpkg -x) into the test's directory instead of being installed.
package LFNet;

use strict;
use warnings;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use LFTest qw(wait_for free_port spew slurp);

sub _listening {
    my ($port, $pid, $seconds) = @_;
    return wait_for(sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
        return $s ? 1 : 0;
    }, $seconds // 10) == 1;
}

sub _spawn {
    my ($what, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', $log);
        open(STDERR, '>>', $log);
        exec(@cmd) or POSIX::_exit(127);
    }
    LFTest::track($pid, $what);
    return $pid;
}

sub redis {
    my ($dir, %o) = @_;
    my $port = $o{port} // free_port();
    mkdir "$dir/redis";
    my $pid = _spawn('redis-server', "$dir/redis/log", 'redis-server', '--port', $port, '--bind', '127.0.0.1',
                     '--save', '', '--appendonly', 'no', '--dir', "$dir/redis", '--daemonize', 'no',
                     '--maxclients', 1000);
    _listening($port, $pid) or die "redis-server did not start:\n" . slurp("$dir/redis/log");
    return { port => $port, pid => $pid, dir => $dir };
}

sub memcached {
    my ($dir) = @_;
    my $port = free_port();
    my $pid = _spawn('memcached', "$dir/memcached.log", 'memcached', '-l', '127.0.0.1', '-p', $port,
                     '-U', 0, '-m', 16, ($> == 0 ? ('-u', 'root') : ()));
    _listening($port, $pid) or die "memcached did not start:\n" . slurp("$dir/memcached.log");
    return { port => $port, pid => $pid };
}

sub stop { my ($srv, $sig) = @_; LFTest::stop_pid($srv->{pid}, $sig // 'TERM', 10) if $srv && $srv->{pid} }

# A server that misbehaves on purpose (see the top).
sub fault {
    my ($how) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                  Listen => 128, ReuseAddr => 1) or die "listen: $!";
    my $port = $l->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        my @held;
        while (my $c = $l->accept) {
            if ($how eq 'silent') { push @held, $c; next }
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                $SIG{PIPE} = 'DEFAULT';
                if ($how eq 'drip') {
                    for (1 .. 3600) { syswrite($c, 'x') or last; sleep 1 }
                } elsif ($how eq 'cut') {
                    sysread($c, my $buf, 65536);
                    syswrite($c, "\$10\r\nhalf");
                } elsif ($how eq 'reset') {
                    sysread($c, my $buf, 65536);
                    setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
                } elsif ($how eq 'flood') {
                    my $chunk = 'y' x 65536;
                    for (1 .. 32768) { syswrite($c, $chunk) or last }    # 2 GiB at most
                }
                POSIX::_exit(0);
            }
            close $c;
        }
        POSIX::_exit(0);
    }
    close $l;
    LFTest::track($pid, "fault server ($how)");
    return { port => $port, pid => $pid };
}

# Debian's lua-nginx-redis and lua-nginx-memcached, unpacked: the
# directory to put first on package.path ("DIR/?.lua").
sub resty_libs {
    my ($dir) = @_;
    my $to = "$dir/resty";
    mkdir $to;
    for my $pkg (qw(lua-nginx-redis lua-nginx-memcached)) {
        my ($deb) = glob("$to/${pkg}_*.deb");
        unless ($deb) {
            system("cd '$to' && apt-get download $pkg >/dev/null 2>&1") == 0
                or die "apt-get download $pkg failed (run tools/deps --test: it updates the package lists)\n";
            ($deb) = glob("$to/${pkg}_*.deb");
        }
        system('dpkg', '-x', $deb, "$to/root") == 0 or die "dpkg -x $deb failed\n";
    }
    return "$to/root/usr/share/lua/5.1";
}

# How many of this machine's TCP connections to PORT are established
# (Linux's /proc/net/tcp).
sub established_to {
    my ($port) = @_;
    my $n = 0;
    for my $line (split /\n/, slurp('/proc/net/tcp')) {
        my ($rem, $st) = (split ' ', $line)[2, 3];
        next unless defined $st && $rem =~ /:([0-9A-F]{4})$/;
        $n++ if hex($1) == $port && $st eq '01';
    }
    return $n;
}

# A command to redis, its reply as text lines (a small RESP client).
sub redis_cli {
    my ($srv, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->{port}, Proto => 'tcp',
                                  Timeout => 5) or return ();
    print $s '*' . scalar(@args) . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);
    my $line = <$s> // '';
    my @out;
    if ($line =~ /^\$(-?\d+)/) {
        return () if $1 < 0;
        read($s, my $body, $1 + 2);
        @out = split /\n/, substr($body, 0, $1);
    } else {
        $line =~ s/\r?\n$//;
        @out = ($line);
    }
    close $s;
    return @out;
}

1;
