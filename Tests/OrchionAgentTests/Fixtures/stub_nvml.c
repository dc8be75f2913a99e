/*
 * A stand-in for libnvidia-ml.so.1, built by the tests with cc: the NVML
 * entry points discovery and telemetry call, with the signatures and return
 * codes of nvml.h, describing one GeForce RTX 4090. Only the ABI is NVIDIA's;
 * every value here is this fixture's.
 *
 *   -DSTUB_INIT_RESULT=9  nvmlInit_v2 fails with NVML_ERROR_DRIVER_NOT_LOADED
 *   -DSTUB_NO_POWER       nvmlDeviceGetPowerUsage answers NVML_ERROR_NOT_SUPPORTED
 */
#include <string.h>

#ifndef STUB_INIT_RESULT
#define STUB_INIT_RESULT 0
#endif

typedef int nvmlReturn_t;
typedef struct stub_device *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;

enum {
    NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_DRIVER_NOT_LOADED = 9,
};

struct stub_device {
    const char *name;
    unsigned long long total, used;
    unsigned int utilization, temperature, milliwatts;
};

static struct stub_device devices[] = {
    {"NVIDIA GeForce RTX 4090", 25757220864ULL, 2147483648ULL, 37, 45, 123456},
};
static const unsigned int device_count = sizeof devices / sizeof devices[0];
static int initialized;

/* How many nvmlInit_v2 calls are not yet matched by nvmlShutdown. */
int stub_nvml_open_count(void) { return initialized; }

nvmlReturn_t nvmlInit_v2(void) {
    if (STUB_INIT_RESULT != 0) return STUB_INIT_RESULT;
    initialized++;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
    if (initialized == 0) return NVML_ERROR_UNINITIALIZED;
    initialized--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (version == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (length < sizeof "550.54.14") return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(version, "550.54.14");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *count = device_count;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (index >= device_count || device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

static int known(nvmlDevice_t device) {
    for (unsigned int i = 0; i < device_count; i++)
        if (device == &devices[i]) return 1;
    return 0;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!known(device) || name == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (length < strlen(device->name) + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(name, device->name);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!known(device) || memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = device->total;
    memory->used = device->used;
    memory->free = device->total - device->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!known(device) || utilization == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    utilization->gpu = device->utilization;
    utilization->memory = 12;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temperature) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!known(device) || sensor != 0 || temperature == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *temperature = device->temperature;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *milliwatts) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!known(device) || milliwatts == NULL) return NVML_ERROR_INVALID_ARGUMENT;
#ifdef STUB_NO_POWER
    return NVML_ERROR_NOT_SUPPORTED;
#else
    *milliwatts = device->milliwatts;
    return NVML_SUCCESS;
#endif
}
