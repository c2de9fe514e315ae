# Sourced by tests/e2e/run.sh (stage 1, once per Kubernetes version) and tests/e2e/velero/run.sh
# (stage 2): "start the control plane and give me a kubeconfig" — etcd, kube-apiserver and
# kube-controller-manager from tests/e2e/build-k8s.sh, certificates made with openssl, loopback only.
#
# Needs from the caller: arrays/vars `pids` (PIDs to stop, appended to), `work` (temp dir),
# `logs` (log dir), function `step`. Defines the helpers the e2e scripts share: free_port,
# wait_for, stop_pids (source this file before the exit trap that uses them).
# Sets: KAPI_SERVER, KAPI_CA, KAPI_CERT, KAPI_KEY (admin client), kubeconfig (path), cp_pids.
# KCM_CONTROLLERS overrides the controller list (default: the workload controllers with their
# ControllerRevision history, garbage collection, service accounts).
# For a control plane that a real node joins (tests/e2e/node): CP_ADDRESS, the address the API
# server binds to, advertises and names in its certificate (default 127.0.0.1); KAPI_AUTHZ
# (default RBAC; a kubelet needs Node,RBAC); KAPI_ENDPOINT_RECONCILER (default none; `lease` keeps
# the `kubernetes` Service's endpoints pointing at CP_ADDRESS, which kube-proxy needs).
# cp_kubeconfig issues further client identities (kubelet, scheduler, kube-proxy).
KCM_CONTROLLERS="${KCM_CONTROLLERS:-deployment,replicaset,statefulset,daemonset,garbagecollector,serviceaccount}"
CP_ADDRESS="${CP_ADDRESS:-127.0.0.1}"
KAPI_AUTHZ="${KAPI_AUTHZ:-RBAC}"
KAPI_ENDPOINT_RECONCILER="${KAPI_ENDPOINT_RECONCILER:-none}"
cp_pids=()

free_port() { # a free TCP port, never handed out twice in one run
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    if [[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]] && ! grep -qw "$p" "$work/ports" 2>/dev/null; then
      echo "$p" >> "$work/ports"
      echo "$p"
      return
    fi
  done
}

wait_for() { # wait_for <seconds> <description> <command...>
  local secs="$1" what="$2"; shift 2
  for _ in $(seq $(( secs * 5 ))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out after ${secs}s waiting for $what" >&2
  return 1
}

stop_pids() { # stop_pids <pid...>: SIGTERM to all (last first), up to 5 s each to exit, then SIGKILL
  local i p
  for ((i=$#; i>0; i--)); do kill "${!i}" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# cp_kubeconfig <file> <CN> [O]: a client certificate signed by the cluster CA and a kubeconfig using it.
cp_kubeconfig() {
  local file="$1" cn="$2" org="${3:-}" pki="$work/pki" base subj
  base="$pki/client-${cn//[^a-zA-Z0-9-]/_}"
  subj="/CN=$cn"; [[ -n $org ]] && subj="/O=$org$subj"
  openssl req -newkey rsa:2048 -nodes -keyout "$base.key" -out "$base.csr" -subj "$subj" 2>/dev/null
  openssl x509 -req -in "$base.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -out "$base.crt" \
    -days 2 -extfile "$pki/client.ext" 2>/dev/null
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fsb-e2e
  cluster:
    server: $KAPI_SERVER
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $cn
  user:
    client-certificate-data: $(base64 -w0 < "$base.crt")
    client-key-data: $(base64 -w0 < "$base.key")
contexts:
- name: fsb-e2e
  context: {cluster: fsb-e2e, user: $cn}
current-context: fsb-e2e
EOF
}

cp_start() { # cp_start <dir with etcd, kube-apiserver, kube-controller-manager>
  local bin="$1" pki="$work/pki"
  step "generating certificates and the service-account key"
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=fsb-e2e-ca" 2>/dev/null
    # 10.96.0.1: the `kubernetes` Service's ClusterIP (first address of --service-cluster-ip-range),
    # which pods on a real node use through kube-proxy.
    printf 'subjectAltName=IP:%s,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' "$CP_ADDRESS" > server.ext
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )

  local etcd_client etcd_peer api_port kcm_port
  etcd_client=$(free_port); etcd_peer=$(free_port)
  step "starting etcd on 127.0.0.1:$etcd_client"
  "$bin/etcd" --name fsb-e2e --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "fsb-e2e=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync \
    > "$logs/etcd.log" 2>&1 &
  pids+=($!); cp_pids+=($!)
  wait_for 30 etcd curl -sf "http://127.0.0.1:$etcd_client/health"

  api_port=$(free_port)
  KAPI_SERVER="https://$CP_ADDRESS:$api_port"
  kubeconfig="$work/kubeconfig"
  cp_kubeconfig "$kubeconfig" fsb-e2e-admin system:masters
  KAPI_CA="$pki/ca.crt" KAPI_CERT="$pki/client-fsb-e2e-admin.crt" KAPI_KEY="$pki/client-fsb-e2e-admin.key"
  export KAPI_SERVER KAPI_CA KAPI_CERT KAPI_KEY
  step "starting kube-apiserver on $KAPI_SERVER"
  "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_client" \
    --bind-address "$CP_ADDRESS" --advertise-address "$CP_ADDRESS" --secure-port "$api_port" \
    --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode "$KAPI_AUTHZ" --allow-privileged=true --profiling=false \
    --endpoint-reconciler-type "$KAPI_ENDPOINT_RECONCILER" \
    > "$logs/kube-apiserver.log" 2>&1 &
  pids+=($!); cp_pids+=($!)

  wait_for 90 "kube-apiserver /readyz" curl_api /readyz

  kcm_port=$(free_port)
  step "starting kube-controller-manager ($KCM_CONTROLLERS)"
  "$bin/kube-controller-manager" \
    --kubeconfig "$kubeconfig" \
    --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" \
    --controllers "$KCM_CONTROLLERS" \
    --leader-elect=false --use-service-account-credentials=false \
    --root-ca-file "$pki/ca.crt" \
    > "$logs/kube-controller-manager.log" 2>&1 &
  pids+=($!); cp_pids+=($!)
  wait_for 60 "kube-controller-manager (default service account)" \
    curl_api /api/v1/namespaces/default/serviceaccounts/default
  step "control plane ready"
}

# cp_stop stops what cp_start started (newest first, by PID) and forgets it.
cp_stop() {
  stop_pids ${cp_pids[@]+"${cp_pids[@]}"}
  # The caller's exit trap must not signal these PIDs again (they may belong to others by then).
  local keep=() q
  for q in "${pids[@]}"; do [[ " ${cp_pids[*]} " == *" $q "* ]] || keep+=("$q"); done
  pids=(${keep[@]+"${keep[@]}"})
  cp_pids=()
}

curl_api() { curl -sf --cacert "$KAPI_CA" --cert "$KAPI_CERT" --key "$KAPI_KEY" "$KAPI_SERVER$1"; }
